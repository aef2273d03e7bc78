// `berth mirror status`: what the pull-through mirror did, per configured upstream, from the counters
// every replica writes to the metadata database (at most a few seconds behind).
import { Command, Option } from 'commander';
import { withoutPassword } from '../config/redact.js';
import { emptyStatus, type MirrorUpstreamStatus } from '../mirror/mirror-store.js';
import { configFromFlags, configOption, dataOption, withStores, type CommonFlags } from './shared.js';

const MiB = 1024 * 1024;

function ratio(status: MirrorUpstreamStatus): string {
  const served = status.hits + status.staleHits + status.misses;
  return served === 0 ? '-' : `${Math.round(((status.hits + status.staleHits) / served) * 100)}%`;
}

export function mirrorCommand(): Command {
  const mirror = new Command('mirror').description('the pull-through mirror (mirror.upstreams)');
  mirror
    .command('status')
    .description('hits, misses, bytes served from the cache and from each upstream, and cache sizes')
    .addOption(configOption())
    .addOption(dataOption())
    .addOption(new Option('--json', 'print JSON instead of a table'))
    .action(async (flags: CommonFlags & { json?: boolean }) => {
      const config = configFromFlags(flags);
      const stored = await withStores(config, (stores) => stores.mirror.listStatus());
      const byName = new Map(stored.map((s) => [s.upstream, s]));
      const rows = config.mirror.upstreams.map((u) => ({
        ...(byName.get(u.name) ?? emptyStatus(u.name)),
        url: withoutPassword(u.url),
        route: [u.root ? '/' : null, u.prefix ? `${u.prefix}/` : null].filter(Boolean).join(' '),
      }));
      if (flags.json) {
        process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
        return;
      }
      if (rows.length === 0) {
        process.stderr.write('no upstreams configured (mirror.upstreams, or serve --mirror URL)\n');
        return;
      }
      const header = [
        'upstream',
        'route',
        'hits',
        'stale',
        'misses',
        'hit ratio',
        'MiB cache',
        'MiB upstream',
        'cached MiB',
        'items',
        'url',
      ];
      const lines = rows.map((r) => [
        r.upstream,
        r.route,
        String(r.hits),
        String(r.staleHits),
        String(r.misses),
        ratio(r),
        (r.bytesFromCache / MiB).toFixed(1),
        (r.bytesFromUpstream / MiB).toFixed(1),
        (r.cachedBytes / MiB).toFixed(1),
        String(r.cachedItems),
        r.url,
      ]);
      const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] as string).length)));
      for (const line of [header, ...lines]) {
        process.stdout.write(
          `${line
            .map((cell, i) => cell.padEnd(widths[i] as number))
            .join('  ')
            .trimEnd()}\n`,
        );
      }
    });
  return mirror;
}
