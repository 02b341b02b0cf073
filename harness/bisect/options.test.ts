import { describe, expect, it } from 'vitest';
import { takeOptions } from './options.ts';

describe('takeOptions', () => {
  it('takes both spellings and leaves the rest in order', () => {
    expect(takeOptions(['bake', '--good', '0.22.0', '--engine', '26.1.5', '--bad=0.20.1'], ['good', 'bad'])).toEqual({
      taken: { good: '0.22.0', bad: '0.20.1' },
      rest: ['bake', '--engine', '26.1.5'],
    });
  });
  it('does not take an option that merely starts with the name', () => {
    expect(takeOptions(['--goodness', 'x'], ['good']).rest).toEqual(['--goodness', 'x']);
  });
});
