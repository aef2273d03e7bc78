// Prints the hottest functions of V8 .cpuprofile files (from `node --cpu-prof`, e.g. a Berth run with
// BENCH_BERTH_CPU_PROF=DIR): self time, and inclusive time of functions in the project's own code.
// Usage: node --import tsx test/bench/cpuprofile-top.ts FILE.cpuprofile|DIR [count]
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
}

function label(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  // Paths inside the benchmark's snapshot of the build (…/berth-build/dist/…) are shown as dist/….
  const path = url.replace(/^file:\/\//, '').replace(/^.*\/berth-build\//, '');
  const where = url ? `${path.startsWith('/') ? relative(process.cwd(), path) : path}:${lineNumber + 1}` : '';
  return `${functionName || '(anonymous)'} ${where}`.trim();
}

function analyze(file: string, count: number): void {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const totalHits = profile.nodes.reduce((sum, n) => sum + (n.hitCount ?? 0), 0);
  const msPerHit = (profile.endTime - profile.startTime) / 1000 / Math.max(totalHits, 1);
  const self = new Map<string, number>();
  for (const node of profile.nodes)
    self.set(label(node), (self.get(label(node)) ?? 0) + (node.hitCount ?? 0));

  // Inclusive hits per node (children first), counted once per label along each path.
  const inclusive = new Map<string, number>();
  const walk = (id: number, onPath: Set<string>): number => {
    const node = byId.get(id);
    if (!node) return 0;
    const name = label(node);
    const fresh = !onPath.has(name);
    if (fresh) onPath.add(name);
    let hits = node.hitCount ?? 0;
    for (const child of node.children ?? []) hits += walk(child, onPath);
    if (fresh) {
      onPath.delete(name);
      inclusive.set(name, (inclusive.get(name) ?? 0) + hits);
    }
    return hits;
  };
  const root = profile.nodes[0];
  if (root) walk(root.id, new Set());

  const idle = (name: string): boolean => /^\((idle|program|garbage collector)\)/.test(name);
  const pct = (hits: number): string => `${((100 * hits) / Math.max(totalHits, 1)).toFixed(1)}%`;
  const busy = [...self.entries()].filter(([n]) => !idle(n)).reduce((s, [, h]) => s + h, 0);
  console.log(`\n${file}: ${(totalHits * msPerHit).toFixed(0)} ms sampled, ${pct(busy)} not idle`);
  for (const special of ['(garbage collector)', '(program)', '(idle)']) {
    console.log(`  ${special}: ${pct(self.get(special) ?? 0)}`);
  }
  console.log('  top self time:');
  for (const [name, hits] of [...self.entries()]
    .filter(([n]) => !idle(n))
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)) {
    console.log(`    ${pct(hits).padStart(6)}  ${name}`);
  }
  console.log('  top inclusive time in the project (dist/src, dist/storage-drivers):');
  for (const [name, hits] of [...inclusive.entries()]
    .filter(([n]) => /dist\/(src|storage-drivers)\//.test(n))
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)) {
    console.log(`    ${pct(hits).padStart(6)}  ${name}`);
  }
}

const target = process.argv[2];
const count = Number(process.argv[3] ?? 20);
if (!target) {
  console.error('usage: cpuprofile-top.ts FILE.cpuprofile|DIR [count]');
  process.exit(2);
}
const files = statSync(target).isDirectory()
  ? readdirSync(target)
      .filter((f) => f.endsWith('.cpuprofile'))
      .map((f) => join(target, f))
  : [target];
for (const file of files) analyze(file, count);
