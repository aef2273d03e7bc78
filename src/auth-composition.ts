// Composition of authentication for auth.mode (called from server.ts): what guards the registry
// routes (an Authorizer), and in token mode the token endpoint and the account directory, on the
// stores the caller opened (whichever database holds the accounts and the login throttle's state).
import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { durationMs, type BerthConfig } from './config/schema.js';
import { createAccountService, type AccountService } from './auth/accounts.js';
import { createCheckLimiter } from './auth/check-limiter.js';
import { createLoginGate } from './auth/login-gate.js';
import { createLoginThrottle } from './auth/login-throttle.js';
import type { LoginThrottleStore } from './auth/login-throttle-store.js';
import type { AccountStore } from './auth/model.js';
import { createAccessPolicy } from './auth/policy.js';
import { loadSigningKey } from './auth/signing-key.js';
import type { TokenService } from './auth/token-service.js';
import { createTrustedIssuer } from './auth/trusted-issuers.js';
import { allowEverything, type Authorizer } from './http/access.js';
import { createApiAuthorizer } from './http/api-authorizer.js';
import { createBasicAuthorizer } from './http/basic-authorizer.js';
import { createCallerAuthenticator } from './http/management/authenticate.js';
import type { ManagementDeps } from './http/management/account-routes.js';
import { createTokenAuthorizer } from './http/token-authorizer.js';
import type { Logger } from './registry/deps.js';

export interface AuthComposition {
  /** Guards /v2. */
  authorizer: Authorizer;
  /** Guards the management API's repository routes: in token mode, accounts' own credentials. */
  apiAuthorizer: Authorizer;
  /** Token mode only. */
  tokens?: TokenService;
  accounts?: AccountService;
  /** Token mode only: what the management API (/api/v1) needs. */
  management?: ManagementDeps;
}

export interface AuthSecrets {
  /** BERTH_ADMIN_PASSWORD: the first admin's password, instead of a generated one. */
  adminPassword?: string;
  /** Shows a generated admin password once (default: standard error, never the JSON log). */
  announce?: (text: string) => void;
}

/** The stores authentication runs on (src/metadata/open.ts opens them). */
export interface AuthStores {
  accounts: AccountStore;
  /** Failed logins and known addresses: shared, so the login limits hold across replicas. */
  loginThrottle: LoginThrottleStore;
}

const seconds = (duration: string) => Math.round(durationMs(duration) / 1000);

export async function composeAuth(
  config: BerthConfig,
  stores: AuthStores,
  log: Logger,
  secrets: AuthSecrets = {},
): Promise<AuthComposition> {
  const auth = config.auth;
  const clock = Date.now;
  const throttle = createLoginThrottle({
    store: stores.loginThrottle,
    perAccount: auth.loginLimit.perAccount,
    perAddress: auth.loginLimit.perAddress,
    windowMs: durationMs(auth.loginLimit.window),
    clock,
  });

  const checks = createCheckLimiter({
    concurrent: auth.loginLimit.concurrentChecks,
    queued: auth.loginLimit.queuedChecks,
  });

  const gate = createLoginGate({ throttle, checks, log, clock });

  if (auth.mode === 'none') return { authorizer: allowEverything, apiAuthorizer: allowEverything };
  if (auth.mode === 'htpasswd') {
    // Loaded only in htpasswd mode: it brings bcrypt, which no other mode needs at start-up.
    const { createHtpasswdFile } = await import('./auth/htpasswd-file.js');
    const users = createHtpasswdFile({ path: resolve(auth.htpasswd.path ?? ''), clock, log });
    const authorizer = createBasicAuthorizer({ users, gate, realm: auth.service });
    return { authorizer, apiAuthorizer: authorizer };
  }

  // The JWT library is loaded only in token mode (about 9 MiB a registry without tokens need not hold).
  const [{ createTokenService }, { createTokenIssuer, createTokenVerifier }] = await Promise.all([
    import('./auth/token-service.js'),
    import('./auth/tokens.js'),
  ]);
  const accounts = createAccountService({
    store: stores.accounts,
    clock,
    personalNamespaces: auth.personalNamespaces,
  });
  const admin = await accounts.ensureAdmin(auth.adminUser, secrets.adminPassword || undefined);
  if (admin.created) {
    log.info({ account: auth.adminUser }, 'created the administrator account');
    if (admin.password) {
      (secrets.announce ?? ((text) => process.stderr.write(text)))(
        `\nBerth created the administrator account "${auth.adminUser}" with the password:\n\n` +
          `    ${admin.password}\n\nIt is shown only this once: store it, or change it with ` +
          `\`berth user passwd ${auth.adminUser} --password-stdin\`.\n\n`,
      );
    }
  }

  const keyPath = resolve(auth.signingKey ?? `${config.dataDir}/auth/token-signing-key.pem`);
  const key = loadSigningKey(keyPath, auth.signingKey === null);
  const issuer = createTokenIssuer({
    key,
    issuer: auth.issuer,
    service: auth.service,
    accessTtlSeconds: seconds(auth.tokenTtl),
    refreshTtlSeconds: seconds(auth.refreshTokenTtl),
    clock,
    newId: randomUUID,
  });
  const verifier = createTokenVerifier({
    own: { key, issuer: auth.issuer, service: auth.service },
    accounts,
    trusted: auth.trustedIssuers.map((trusted) =>
      createTrustedIssuer(trusted, {
        defaultService: auth.service,
        clock,
        onError: (err) =>
          log.warn({ err, issuer: trusted.issuer }, 'cannot fetch the JWKS of a trusted issuer'),
      }),
    ),
    clockSkewSeconds: seconds(auth.clockSkew),
    clock,
  });
  const policy = createAccessPolicy(accounts);
  const tokens = createTokenService({
    service: auth.service,
    accounts,
    policy,
    issuer,
    verifier,
    gate,
    log,
  });
  const authorizer = createTokenAuthorizer({
    verifier,
    policy,
    service: auth.service,
    realm: auth.realm,
    log,
  });
  const management: ManagementDeps = { accounts, tokens, verifier, checks, realm: auth.service, log };
  const apiAuthorizer = createApiAuthorizer({
    authenticate: createCallerAuthenticator(management),
    policy,
    realm: auth.service,
  });
  return { authorizer, apiAuthorizer, tokens, accounts, management };
}
