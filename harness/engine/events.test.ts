// The lines `docker events --format '{{.Type}} {{.Action}} {{.Actor.ID}}'` prints, parsed.
import { describe, expect, it } from 'vitest';
import { parseEventLine } from './events.ts';

describe('parseEventLine', () => {
  const id = 'a'.repeat(64);
  it('reads type, action and actor', () => {
    expect(parseEventLine(`container die ${id}`)).toEqual({ type: 'container', action: 'die', id });
    expect(parseEventLine(`container destroy ${id}\n`)).toEqual({ type: 'container', action: 'destroy', id });
  });
  it('keeps an action without its detail (health_status: healthy)', () => {
    expect(parseEventLine(`container exec_die ${id}`)?.action).toBe('exec_die');
    expect(parseEventLine(`container health_status:healthy ${id}`)).toEqual({ type: 'container', action: 'health_status', id });
  });
  it('ignores anything else', () => {
    for (const l of ['', 'garbage', `container  ${id}`, `Container die ${id}`]) expect(parseEventLine(l)).toBeUndefined();
  });
});
