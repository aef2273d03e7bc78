// The UI's entry point: the theme before the first paint, then the app.
import { render } from 'preact';
import { App } from './app.js';
import { applyTheme, storedTheme } from './theme.js';

applyTheme(storedTheme());
render(<App />, document.getElementById('app') as HTMLElement);
