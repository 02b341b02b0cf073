// What `git log` says about commits, parsed; pure. The pull request a merge brought in, and the commits a
// backport was cherry-picked from, are read from the messages GitHub and `git cherry-pick -x` write.
import { HarnessError } from '../errors.ts';

export interface Commit {
  sha: string;
  /** first parent first: on a merge, parents[1] is the head of the merged branch */
  parents: string[];
  /** committer date, ISO 8601 as git prints it: when the commit (or the merge) landed */
  date: string;
  /** the message's first paragraph on one line, as git's %s */
  subject: string;
  /** the message after the subject's paragraph */
  body: string;
}

export interface PullRequest {
  number: number;
  title: string;
  /** "user/branch" from a merge subject; absent for a squash merge */
  from?: string;
}

/**
 * Arguments for `git log` that print LOG_FORMAT records: -z ends each with NUL (which no message holds, git
 * cuts messages there), fields are split by US (0x1f). Hash, parents and date cannot hold US, and the raw
 * message comes last, so a US inside a message cannot shift a field.
 */
export const LOG_FORMAT_ARGS = ['-z', '--format=%H%x1f%P%x1f%cI%x1f%B'] as const;

const SHA = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;
const ISO_DATE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:Z|[+-]\d\d:\d\d)$/;

/** A raw message split as git does: the first paragraph (lines joined by a space) and the rest. */
function splitMessage(message: string): { subject: string; body: string } {
  const lines = message
    .replace(/\r\n/g, '\n')
    .replace(/^\s*\n/, '')
    .split('\n');
  const blank = lines.findIndex((l) => l.trim() === '');
  const head = blank < 0 ? lines : lines.slice(0, blank);
  const rest = blank < 0 ? [] : lines.slice(blank + 1);
  return {
    subject: head
      .map((l) => l.trim())
      .join(' ')
      .trim(),
    body: rest.join('\n').trim(),
  };
}

/** Commits from `git log ...LOG_FORMAT_ARGS` output, in the order printed; a malformed record is the lab's error. */
export function parseLog(output: string): Commit[] {
  return output
    .split('\0')
    .filter((r) => r !== '')
    .map((record) => {
      const fields = record.split('\x1f');
      const [sha = '', parents = '', date = ''] = fields;
      const parentList = parents.split(' ').filter(Boolean);
      if (fields.length < 4 || !SHA.test(sha) || !parentList.every((p) => SHA.test(p)) || !ISO_DATE.test(date)) {
        throw new HarnessError(`unexpected git log record (is this a git repository?): ${JSON.stringify(record.slice(0, 200))}`);
      }
      return { sha, parents: parentList, date, ...splitMessage(fields.slice(3).join('\x1f')) };
    });
}

const MERGE = /^Merge pull request #(\d{1,9}) from (\S+)/;
// GitHub's squash and rebase merges end the subject with the number: "Fix the thing (#3023)".
const SQUASH = /^(.*\S)\s+\(#(\d{1,9})\)$/;

/** The pull request a commit on the main branch brought in, if its message says so. */
export function pullRequestOf(c: Pick<Commit, 'subject' | 'body'>): PullRequest | undefined {
  const merge = MERGE.exec(c.subject);
  if (merge) {
    // GitHub writes the pull request's title as the body's first line.
    const title =
      c.body
        .split('\n')
        .map((l) => l.trim())
        .find(Boolean) ?? '';
    return { number: Number(merge[1]), title, from: merge[2]! };
  }
  const squash = SQUASH.exec(c.subject);
  return squash ? { number: Number(squash[2]), title: squash[1]! } : undefined;
}

/** The commits a backport names in its "(cherry picked from commit <sha>)" lines (git cherry-pick -x). */
export function cherryPicksOf(c: Pick<Commit, 'body'>): string[] {
  return [...c.body.matchAll(/^\s*\(cherry picked from commit ([0-9a-f]{7,64})\)\s*$/gm)].map((m) => m[1]!);
}
