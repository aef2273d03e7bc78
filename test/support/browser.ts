// Debian's chromium (/usr/bin/chromium) driven by playwright-core, for the web UI tests: no browser
// download, no network beyond 127.0.0.1, a fresh profile per launch (playwright's temporary one).
//
// Contract: launchChromium() resolves with a running browser; the caller closes it. Each newContext()
// of that browser is a separate profile (its own sessionStorage, permissions and cookies).
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM_PATH = '/usr/bin/chromium';

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
