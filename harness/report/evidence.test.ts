import { describe, expect, it } from 'vitest';
import { pullStreamCells } from './fixtures.test-helpers.ts';
import { cellErrorLine } from './evidence.ts';

const pull = pullStreamCells();

describe('cellErrorLine', () => {
  it.each([
    [0, 'ERROR: Error response from daemon: No such image: registry:5000/moby/buildkit:v0.17.1'],
    [1, 'ERROR: failed commit on ref "layer-sha256:4976aa5e": unexpected commit digest sha256:0000, expected sha256:4976aa5e: failed precondition'],
    [3, 'engine-start: dockerd exited with code 1'],
    [2, undefined],
  ])('cell %i', (i, line) => expect(cellErrorLine(pull[i]!)).toBe(line));
});
