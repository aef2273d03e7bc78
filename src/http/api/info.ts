// GET /api/v1/info: what a client needs to know before it signs in (the web UI asks it first): how
// this registry authenticates, the `service` to name in token requests, the version, and whether
// changes are possible at all. Open to everyone: /v2/'s challenge already tells as much.
import { packageVersion } from '../../package-info.js';
import { z } from 'zod';
import { API_PREFIX, defineRoute, type RouteSpec } from '../route-spec.js';

const Info = z.object({
  version: z.string().describe("Berth's version"),
  authMode: z
    .enum(['none', 'htpasswd', 'token'])
    .describe('none: open; htpasswd: Basic credentials; token: POST /auth/token (OAuth2 password grant)'),
  service: z.string().describe('auth.service: the `service` of token requests'),
  readOnly: z.boolean().describe('server.readOnly: pushes and deletes are refused'),
  deleteEnabled: z.boolean().describe('storage.delete.enabled: tags, manifests and repositories may go'),
});

export interface InfoDeps {
  authMode: 'none' | 'htpasswd' | 'token';
  service: string;
  readOnly: boolean;
  deleteEnabled: boolean;
}

export function infoRoutes(deps: InfoDeps): RouteSpec[] {
  const body = { version: packageVersion(), ...deps };
  return [
    defineRoute({
      method: 'GET',
      path: `${API_PREFIX}/info`,
      summary: 'How to sign in (auth mode, token service), the version, whether changes are possible',
      group: 'Service',
      access: { open: true },
      responses: { 200: { description: 'about this registry', body: Info } },
      handler(ctx) {
        ctx.body = body;
      },
    }),
  ];
}
