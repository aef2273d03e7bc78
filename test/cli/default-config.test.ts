// One default in one place: config/default.yaml documents every setting with the schema's default.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { defaultConfig } from '../../src/config/schema.js';

const defaultYaml = readFileSync(new URL('../../config/default.yaml', import.meta.url), 'utf8');

describe('config/default.yaml', () => {
  it('equals the schema defaults, key for key', () => {
    expect(parseYaml(defaultYaml)).toStrictEqual(defaultConfig());
  });

  it('documents every setting with a comment line above it', () => {
    const lines = defaultYaml.split('\n');
    const undocumented = lines.filter((line, i) => {
      if (!/^\s*[A-Za-z]+: \S/.test(line)) return false;
      return !/^\s*#/.test(lines[i - 1] ?? '');
    });
    expect(undocumented).toEqual([]);
  });
});
