import { describe, expect, it } from 'vitest';
import {
  isTagPattern,
  listStateQuery,
  parseRepositoryListState,
  parseTagListState,
  repositoryListQuery,
  tagListQuery,
} from '../../ui/src/lib/list-params.js';

describe('repository list state', () => {
  it('defaults to name ascending, and to descending for the other sorts', () => {
    expect(parseRepositoryListState({})).toEqual({ q: '', sort: 'name', order: 'asc' });
    expect(parseRepositoryListState({ sort: 'size' })).toEqual({ q: '', sort: 'size', order: 'desc' });
    expect(parseRepositoryListState({ sort: 'pushed', order: 'asc', q: 'team' })).toEqual({
      q: 'team',
      sort: 'pushed',
      order: 'asc',
    });
  });

  it('ignores values it does not know (a hand-edited URL)', () => {
    expect(parseRepositoryListState({ sort: 'evil', order: 'sideways' })).toEqual({
      q: '',
      sort: 'name',
      order: 'asc',
    });
  });

  it('writes only what differs from the defaults into the URL', () => {
    expect(listStateQuery({ q: '', sort: 'name', order: 'asc' }, 'name')).toBe('');
    expect(listStateQuery({ q: 'team app', sort: 'size', order: 'desc' }, 'name')).toBe(
      '?q=team+app&sort=size',
    );
    expect(listStateQuery({ q: '', sort: 'name', order: 'desc' }, 'name')).toBe('?order=desc');
  });

  it('round-trips through the URL', () => {
    const state = { q: 'a/b', sort: 'tags' as const, order: 'asc' as const };
    const query = Object.fromEntries(new URLSearchParams(listStateQuery(state, 'name')));
    expect(parseRepositoryListState(query)).toEqual(state);
  });

  it('becomes an API query with the cursor of the next page', () => {
    expect(repositoryListQuery({ q: ' app ', sort: 'pulled', order: 'desc' }, 50, 'abc')).toEqual({
      q: 'app',
      sort: 'pulled',
      order: 'desc',
      limit: 50,
      cursor: 'abc',
    });
    expect(repositoryListQuery({ q: '', sort: 'name', order: 'asc' }, 50, null).q).toBeUndefined();
  });
});

describe('tag list state', () => {
  it('defaults to the newest push first', () => {
    expect(parseTagListState({})).toEqual({ pattern: '', sort: 'pushed', order: 'desc' });
    expect(parseTagListState({ sort: 'semver' }).order).toBe('desc');
    expect(parseTagListState({ sort: 'name' }).order).toBe('asc');
  });

  it('searches for a plain text and passes a glob as it is', () => {
    const state = { sort: 'pushed' as const, order: 'desc' as const };
    expect(tagListQuery({ ...state, pattern: '1.2' }, 50).pattern).toBe('*1.2*');
    expect(tagListQuery({ ...state, pattern: 'v*-alpine' }, 50).pattern).toBe('v*-alpine');
    expect(tagListQuery({ ...state, pattern: ' ' }, 50).pattern).toBeUndefined();
    expect(listStateQuery({ pattern: 'v1', sort: 'pushed', order: 'desc' }, 'pushed')).toBe('?pattern=v1');
  });

  it('accepts only the characters the API takes in a pattern', () => {
    expect(isTagPattern('v1.2-rc_1*')).toBe(true);
    expect(isTagPattern('a b')).toBe(false);
    expect(isTagPattern('x/y')).toBe(false);
  });
});
