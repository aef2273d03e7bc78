// Builds the web UI into dist/ui (Berth serves it: src/http/ui.ts). Run from the repository root with
// `vite build --config ui/vite.config.ts` (npm run build does), or `vite --config ui/vite.config.ts` to
// work on it with hot reload against a Berth on 127.0.0.1:5000 (the proxy below).
import preact from '@preact/preset-vite';
import { defineConfig } from 'vite';

const root = new URL('.', import.meta.url).pathname;
const berth = process.env.BERTH_URL ?? 'http://127.0.0.1:5000';

export default defineConfig({
  root,
  plugins: [preact()],
  build: {
    outDir: new URL('../dist/ui', import.meta.url).pathname,
    emptyOutDir: true,
    target: 'es2022',
    // One small bundle: no module preload polyfill (an inline script the CSP would refuse anyway).
    modulePreload: { polyfill: false },
    reportCompressedSize: true,
  },
  server: {
    proxy: Object.fromEntries(['/api', '/auth', '/v2'].map((path) => [path, berth])),
  },
});
