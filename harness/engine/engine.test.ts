import { describe, expect, it } from 'vitest';
import { engineProblem } from './engine.ts';

describe('engineProblem', () => {
  it.each([
    ['20.10.24+dfsg1', /too old.*moby\/moby#42933/],
    ['22.06.0', /too old/],
  ])('refuses %s, naming why and the fix', (v, re) => {
    const p = engineProblem({ serverVersion: v });
    expect(p).toMatch(re);
    expect(p).toMatch(/make setup/);
  });

  it.each(['23.0.0', '26.1.5+dfsg1', '28.5.2'])('accepts %s', (v) => {
    expect(engineProblem({ serverVersion: v })).toBeUndefined();
  });

  it('reports a version it cannot parse', () => {
    expect(engineProblem({ serverVersion: 'dev' })).toMatch(/cannot parse/);
  });
});
