// The registry event of a retention deletion (webhooks, audit), in the shape a DELETE request makes
// (src/http/events.ts), with retention as the actor and no client.
import type { RegistryEvent } from '../events/registry-event.js';
import type { RetentionDeletion } from './retention.js';

export const RETENTION_ACTOR = 'berth-retention';

export function retentionEvent(
  deletion: RetentionDeletion,
  at: number,
  id: string,
  host: string,
): RegistryEvent {
  const { repository, tag, digest } = deletion;
  return {
    id,
    timestamp: new Date(at).toISOString(),
    action: 'delete',
    target:
      tag === undefined ? { kind: 'manifest', repository, digest } : { kind: 'tag', repository, tag, digest },
    request: { id, addr: '', host, method: 'DELETE', userAgent: RETENTION_ACTOR },
    actor: { name: RETENTION_ACTOR },
  };
}
