// What every page reads: the session (who the browser is), the API client and the registry host that
// pull commands name. Provided once by <App>.
import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { Api } from './lib/api.js';
import type { Session, SessionState } from './lib/session.js';

export interface AppContextValue {
  session: Session;
  state: SessionState;
  api: Api;
  /** host[:port] as docker names this registry: the browser's location.host. */
  host: string;
  /** Tells the user something happened (a live region: screen readers hear it too). */
  notify(message: string, kind?: 'ok' | 'error'): void;
}

export const AppContext = createContext<AppContextValue | undefined>(undefined);

export function useApp(): AppContextValue {
  const value = useContext(AppContext);
  if (!value) throw new Error('useApp outside <App>');
  return value;
}
