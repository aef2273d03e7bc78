// Berth's own package: where it is installed and its version, found by walking up from this module to
// the nearest package.json, so the answer is the same whether the code runs built (dist/src) or from
// source through tsx (src). One place for what the CLI, the OpenAPI document, /api/v1/info and the web
// UI's file server need to know about the package.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The directory holding Berth's package.json. */
export function packageRoot(): string {
  const from = dirname(fileURLToPath(import.meta.url));
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) return from;
  }
}

let version: string | undefined;

/** package.json's version ('0.0.0' when it cannot be read). */
export function packageVersion(): string {
  if (version === undefined) {
    try {
      const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as {
        version?: string;
      };
      version = pkg.version ?? '0.0.0';
    } catch {
      version = '0.0.0';
    }
  }
  return version;
}
