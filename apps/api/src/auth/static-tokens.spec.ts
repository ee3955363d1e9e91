import { StaticTokens } from './static-tokens';

const prototypeNames = [...Object.getOwnPropertyNames(Object.prototype), ...Object.getOwnPropertyNames(Function.prototype), 'prototype'];

describe('static tokens', () => {
  const tokens = new StaticTokens(
    'admin-secret-token',
    new Map([
      ['project-a-token', 'alpha'],
      ['project-b-token', 'beta'],
    ]),
  );

  it('resolves the admin token and each project token to its principal', () => {
    expect(tokens.resolve('admin-secret-token')).toEqual({ admin: true });
    expect(tokens.resolve('project-a-token')).toEqual({ admin: false, projectId: 'alpha' });
    expect(tokens.resolve('project-b-token')).toEqual({ admin: false, projectId: 'beta' });
  });

  it.each(prototypeNames)('does not take the Object.prototype name %s for a token', (name) => {
    expect(tokens.resolve(name)).toBeUndefined();
  });

  it('refuses empty, overlong, non-ASCII and near-miss tokens', () => {
    for (const token of ['', 'x'.repeat(4097), 'project-a-tokén', 'project-a-token\u0000', 'project-a-toke', 'project-a-tokenx', 'PROJECT-A-TOKEN']) {
      expect(tokens.resolve(token)).toBeUndefined();
    }
  });
});
