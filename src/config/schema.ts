// The single source of Berth's settings: types, defaults and validation. config/default.yaml
// lists the same defaults with comments (a test keeps the two equal).
import { z } from 'zod';
import { NAME_COMPONENT } from '../registry/references.js';

const MiB = 1024 * 1024;
const DURATION = /^(\d+)(ms|s|m|h|d)$/;
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

const duration = z.string().regex(DURATION, 'a duration such as "500ms", "30s", "15m", "24h" or "7d"');

/** Milliseconds in a validated duration string. */
export function durationMs(value: string): number {
  const match = DURATION.exec(value);
  if (!match) throw new Error(`not a duration: ${value}`);
  return Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
}

/** https, or http to a loopback host. */
function isSafeKeySource(url: string): boolean {
  const { protocol, hostname } = new URL(url);
  return protocol === 'https:' || ['127.0.0.1', 'localhost', '[::1]'].includes(hostname);
}

const hostPort = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]*):\d{1,5}$/, {
    message: 'HOST:PORT, e.g. "0.0.0.0:5000" or "127.0.0.1:5055"',
    abort: true,
  })
  .refine((value) => Number(value.slice(value.lastIndexOf(':') + 1)) <= 65535, 'port above 65535');

/** A mirror prefix is one component of a repository name: the first of the local names it serves. */
const PREFIX = new RegExp(`^${NAME_COMPONENT}$`);

const upstreamSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'lowercase letters, digits, "-" and "_"'),
    url: z.url().refine((url) => /^https?:\/\//.test(url), 'an http:// or https:// URL'),
    prefix: z.string().regex(PREFIX, 'one repository name component').nullable().default(null),
    root: z.boolean().default(false),
    hosts: z.array(z.string().min(1)).nullable().default(null),
    username: z.string().min(1).nullable().default(null),
    password: z.string().min(1).nullable().default(null),
    ca: z.string().min(1).nullable().default(null),
    connectTimeout: duration.default('10s'),
    responseTimeout: duration.default('30s'),
    idleTimeout: duration.default('30s'),
    tagFreshness: duration.default('5m'),
    staleFor: duration.default('7d'),
    failureThreshold: z.number().int().min(1).default(5),
    failureCooldown: duration.default('30s'),
    eviction: z
      .object({
        maxBytes: z.number().int().positive().nullable().default(null),
        unusedFor: duration.nullable().default(null),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .refine((u) => u.root || u.prefix !== null, {
    message: 'give a prefix, or root: true for the upstream of names at the root (Docker registry-mirrors)',
  })
  .refine((u) => (u.username === null) === (u.password === null), {
    path: ['password'],
    message: 'username and password go together',
  });

export type UpstreamConfig = z.output<typeof upstreamSchema>;

const mirrorSchema = z
  .object({
    upstreams: z.array(upstreamSchema).default([]),
    spoolDir: z.string().min(1).nullable().default(null),
    evictionInterval: duration.default('10m'),
  })
  .strict()
  .prefault({})
  .superRefine((mirror, ctx) => {
    const seen = { name: new Set<string>(), prefix: new Set<string>() };
    let roots = 0;
    mirror.upstreams.forEach((u, index) => {
      for (const key of ['name', 'prefix'] as const) {
        const value = u[key];
        if (value === null) continue;
        if (seen[key].has(value)) {
          ctx.addIssue({
            code: 'custom',
            path: ['upstreams', index, key],
            message: `"${value}" is used twice`,
          });
        }
        seen[key].add(value);
      }
      if (u.root && ++roots > 1) {
        ctx.addIssue({
          code: 'custom',
          path: ['upstreams', index, 'root'],
          message: 'only one upstream is the root',
        });
      }
    });
  });

const EVENT_ACTIONS = ['push', 'pull', 'delete', 'mount'] as const;

const endpointSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'lowercase letters, digits, "-" and "_"'),
    url: z.url().refine((url) => /^https?:\/\//.test(url), 'an http:// or https:// URL'),
    actions: z.array(z.enum(EVENT_ACTIONS)).min(1).default(['push', 'delete']),
    repositories: z.array(z.string().min(1)).min(1).default(['*']),
    headers: z.record(z.string(), z.string()).default({}),
    secret: z.string().min(1).nullable().default(null),
    format: z.enum(['distribution', 'cloudevents']).default('distribution'),
    timeout: duration.default('10s'),
  })
  .strict();

export type NotificationEndpointConfig = z.output<typeof endpointSchema>;

const notificationsSchema = z
  .object({
    endpoints: z.array(endpointSchema).default([]),
    initialBackoff: duration.default('1s'),
    maxBackoff: duration.default('5m'),
    maxAge: duration.default('7d'),
  })
  .strict()
  .prefault({})
  .superRefine((notifications, ctx) => {
    const names = new Set<string>();
    notifications.endpoints.forEach((endpoint, index) => {
      if (names.has(endpoint.name)) {
        ctx.addIssue({
          code: 'custom',
          path: ['endpoints', index, 'name'],
          message: `"${endpoint.name}" is used twice`,
        });
      }
      names.add(endpoint.name);
    });
  });

export const configSchema = z
  .object({
    dataDir: z.string().min(1).default('./data'),
    server: z
      .object({
        listen: hostPort.default('0.0.0.0:5000'),
        shutdownTimeout: duration.default('30s'),
        trustProxy: z.boolean().default(false),
        readOnly: z.boolean().default(false),
        ui: z.boolean().default(true),
        tls: z
          .object({
            cert: z.string().min(1).nullable().default(null),
            key: z.string().min(1).nullable().default(null),
            clientCa: z.string().min(1).nullable().default(null),
          })
          .strict()
          .prefault({})
          .superRefine((tls, ctx) => {
            if ((tls.cert === null) !== (tls.key === null)) {
              ctx.addIssue({
                code: 'custom',
                path: [tls.cert === null ? 'cert' : 'key'],
                message: 'cert and key go together (give both for HTTPS, or neither for plain HTTP)',
              });
            }
            if (tls.clientCa !== null && tls.cert === null) {
              ctx.addIssue({
                code: 'custom',
                path: ['clientCa'],
                message: 'mutual TLS needs HTTPS: give cert and key too',
              });
            }
          }),
      })
      .strict()
      .prefault({}),
    storage: z
      .object({
        driver: z.enum(['filesystem', 's3', 'memory']).default('filesystem'),
        filesystem: z
          .object({
            root: z.string().min(1).nullable().default(null),
            fsync: z.boolean().default(true),
          })
          .strict()
          .prefault({}),
        s3: z
          .object({
            bucket: z.string().min(1).nullable().default(null),
            prefix: z.string().default(''),
            region: z.string().min(1).default('us-east-1'),
            endpoint: z.url().nullable().default(null),
            forcePathStyle: z.boolean().default(false),
            accessKeyId: z.string().min(1).nullable().default(null),
            secretAccessKey: z.string().min(1).nullable().default(null),
            partSize: z
              .number()
              .int()
              .min(5 * MiB)
              .max(5 * 1024 * MiB)
              .default(8 * MiB),
            queueSize: z.number().int().min(1).max(64).default(2),
            maxAttempts: z.number().int().min(1).max(20).default(3),
            requestTimeout: duration.default('60s'),
            redirect: z
              .object({
                enabled: z.boolean().default(true),
                expiry: duration.default('20m'),
                endpoint: z.url().nullable().default(null),
              })
              .strict()
              .prefault({}),
          })
          .strict()
          .prefault({}),
        delete: z
          .object({ enabled: z.boolean().default(true) })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({})
      .superRefine((storage, ctx) => {
        if (storage.driver !== 's3') return;
        if (!storage.s3.bucket) {
          ctx.addIssue({
            code: 'custom',
            path: ['s3', 'bucket'],
            message: 'required when storage.driver is s3',
          });
        }
        if ((storage.s3.accessKeyId === null) !== (storage.s3.secretAccessKey === null)) {
          ctx.addIssue({
            code: 'custom',
            path: ['s3', 'secretAccessKey'],
            message: 'accessKeyId and secretAccessKey go together (or leave both null for the SDK chain)',
          });
        }
      }),
    metadata: z
      .object({
        driver: z.enum(['sqlite', 'postgres']).default('sqlite'),
        path: z.string().min(1).nullable().default(null),
        postgres: z
          .object({
            url: z
              .string()
              .regex(/^postgres(ql)?:\/\//, 'a postgres:// or postgresql:// connection URL')
              .nullable()
              .default(null),
            poolSize: z.number().int().min(1).default(10),
            statementTimeout: duration.default('30s'),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({})
      .superRefine((metadata, ctx) => {
        if (metadata.driver === 'postgres' && !metadata.postgres.url) {
          ctx.addIssue({
            code: 'custom',
            path: ['postgres', 'url'],
            message: 'required when metadata.driver is postgres',
          });
        }
      }),
    uploads: z
      .object({
        maxAge: duration.default('24h'),
        purgeInterval: duration.default('1h'),
      })
      .strict()
      .prefault({}),
    pulls: z
      .object({
        track: z.boolean().default(true),
        flushInterval: duration.default('5s'),
      })
      .strict()
      .prefault({}),
    gc: z
      .object({
        enabled: z.boolean().default(true),
        interval: duration.default('1h'),
        delay: duration.default('24h'),
        orphans: z.boolean().default(true),
        orphanGrace: duration.default('24h'),
      })
      .strict()
      .prefault({}),
    retention: z
      .object({
        interval: duration.default('1h'),
      })
      .strict()
      .prefault({}),
    limits: z
      .object({
        manifestMaxBytes: z
          .number()
          .int()
          .positive()
          .default(4 * 1024 * 1024),
        manifestCacheBytes: z
          .number()
          .int()
          .nonnegative()
          .default(64 * 1024 * 1024),
      })
      .strict()
      .prefault({}),
    auth: z
      .object({
        mode: z.enum(['none', 'htpasswd', 'token']).default('none'),
        service: z.string().min(1).default('berth'),
        issuer: z.string().min(1).default('berth'),
        realm: z.url().nullable().default(null),
        tokenTtl: duration.default('5m'),
        refreshTokenTtl: duration.default('30d'),
        clockSkew: duration.default('30s'),
        signingKey: z.string().min(1).nullable().default(null),
        adminUser: z.string().min(1).default('admin'),
        personalNamespaces: z.boolean().default(true),
        htpasswd: z
          .object({ path: z.string().min(1).nullable().default(null) })
          .strict()
          .prefault({}),
        loginLimit: z
          .object({
            perAccount: z.number().int().min(1).default(5),
            perAddress: z.number().int().min(1).default(20),
            window: duration.default('5m'),
            concurrentChecks: z.number().int().min(1).default(2),
            queuedChecks: z.number().int().min(0).default(32),
          })
          .strict()
          .prefault({}),
        trustedIssuers: z
          .array(
            z
              .object({
                issuer: z.string().min(1),
                service: z.string().min(1).nullable().default(null),
                certificates: z.string().min(1).nullable().default(null),
                jwksUrl: z.url().nullable().default(null),
              })
              .strict()
              .refine((t) => (t.certificates === null) !== (t.jwksUrl === null), {
                message: 'give exactly one of certificates (a PEM file) or jwksUrl',
              })
              .refine((t) => t.jwksUrl === null || isSafeKeySource(t.jwksUrl), {
                path: ['jwksUrl'],
                message: 'must be https (plain http only on loopback): whoever alters it can forge tokens',
              }),
          )
          .default([]),
      })
      .strict()
      .prefault({})
      .superRefine((auth, ctx) => {
        if (auth.mode === 'htpasswd' && !auth.htpasswd.path) {
          ctx.addIssue({
            code: 'custom',
            path: ['htpasswd', 'path'],
            message: 'required when auth.mode is htpasswd',
          });
        }
        auth.trustedIssuers.forEach((trusted, index) => {
          if (trusted.issuer === auth.issuer) {
            ctx.addIssue({
              code: 'custom',
              path: ['trustedIssuers', index, 'issuer'],
              message: `is auth.issuer ("${auth.issuer}"), Berth's own: give the external issuer's name`,
            });
          }
        });
        if (durationMs(auth.tokenTtl) < 60_000) {
          ctx.addIssue({ code: 'custom', path: ['tokenTtl'], message: 'at least 60s (Docker token spec)' });
        }
      }),
    mirror: mirrorSchema,
    metrics: z
      .object({
        enabled: z.boolean().default(true),
        listen: hostPort.nullable().default(null),
      })
      .strict()
      .prefault({}),
    notifications: notificationsSchema,
    log: z
      .object({
        level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
        requests: z.boolean().default(true),
        format: z.enum(['auto', 'json', 'pretty']).default('auto'),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .superRefine((config, ctx) => {
    // Replicas on a shared database must sign tokens with one key; none may quietly make its own.
    if (config.metadata.driver === 'postgres' && config.auth.mode === 'token' && !config.auth.signingKey) {
      ctx.addIssue({
        code: 'custom',
        path: ['auth', 'signingKey'],
        message: 'required in token mode when metadata.driver is postgres: every replica signs with this key',
      });
    }
  });

export type BerthConfig = z.output<typeof configSchema>;
export type BerthConfigInput = z.input<typeof configSchema>;

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/**
 * Validates raw settings; a failure names every offending key and why, and where it was set when
 * `origins` (dotted key -> origin, e.g. an environment variable) says.
 */
export function parseConfig(
  raw: unknown,
  source = 'configuration',
  origins: ReadonlyMap<string, string> = new Map(),
): BerthConfig {
  const result = configSchema.safeParse(raw);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const keys =
      issue.code === 'unrecognized_keys' ? issue.keys.map((k) => [...issue.path, k].join('.')) : [];
    const where = keys.length > 0 ? keys.join(', ') : issue.path.join('.') || '(root)';
    const origin = origins.get(issue.path.join('.'));
    return `  ${where}: ${issue.message}${origin ? ` (set by ${origin})` : ''}`;
  });
  return fail(`invalid ${source}:\n${problems.join('\n')}`);
}

function fail(message: string): never {
  throw new ConfigError(message);
}

export function defaultConfig(): BerthConfig {
  return configSchema.parse({});
}
