import { describe, expect, it } from 'vitest';
import type { RegistryEvent } from '../../src/events/registry-event.js';
import { compileEventFilter, compileRepositoryPatterns } from '../../src/notifications/patterns.js';

describe('repository patterns', () => {
  const cases: Array<[patterns: string[], matching: string[], notMatching: string[]]> = [
    [['*'], ['app', 'team-a/app', 'a/b/c/d'], []],
    [['team-a/*'], ['team-a/app', 'team-a/tools/ci'], ['team-a', 'team-b/app', 'xteam-a/app', 'Team-a/app']],
    [['*/app'], ['team-a/app', 'x/y/app'], ['app', 'team-a/apps', 'team-a/app/sub']],
    [['team-a/app'], ['team-a/app'], ['team-a/app2', 'team-a/ap', 'team-a/App', 'x/team-a/app']],
    [['team-*/app'], ['team-a/app', 'team-blue/app'], ['team/app', 'teams/app']],
    [['a.b/c?d'], ['a.b/c?d'], ['axb/c?d', 'a.b/cxd']],
    [
      ['team-a/*', 'tools'],
      ['team-a/x', 'tools'],
      ['tools/x', 'team-b/x'],
    ],
    [['*app*'], ['app', 'myapp', 'x/app/y'], ['ap']],
  ];

  it.each(cases)('%j matches %j and not %j', (patterns, matching, notMatching) => {
    const matches = compileRepositoryPatterns(patterns);
    for (const name of matching) expect(matches(name), name).toBe(true);
    for (const name of notMatching) expect(matches(name), name).toBe(false);
  });
});

describe('event filter', () => {
  const event = (action: RegistryEvent['action'], repository: string): RegistryEvent => ({
    id: 'e',
    timestamp: '2024-01-01T00:00:00.000Z',
    action,
    target: { kind: 'manifest', repository },
    request: { id: 'r', addr: '127.0.0.1', host: 'h', method: 'PUT', userAgent: 'ua' },
    actor: {},
  });

  it('passes the events of the endpoint’s actions on the repositories its patterns match', () => {
    const wants = compileEventFilter({ actions: ['push', 'delete'], repositories: ['team-a/*'] });
    expect(wants(event('push', 'team-a/app'))).toBe(true);
    expect(wants(event('delete', 'team-a/app'))).toBe(true);
    expect(wants(event('pull', 'team-a/app'))).toBe(false);
    expect(wants(event('mount', 'team-a/app'))).toBe(false);
    expect(wants(event('push', 'team-b/app'))).toBe(false);
  });
});
