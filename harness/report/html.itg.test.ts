// The HTML report in a real browser (Debian's headless Chromium, driven by playwright-core): a click on
// a cell opens its evidence; the page requests nothing but itself; and a report built from hostile
// evidence (markup, script URLs, control characters, secrets) runs no script and shows no secret.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CellResult } from '../model.ts';
import { FAKE_AUTH, FAKE_SECRET, META, command, doublePushCell, immutableTagCells, journal, makeCell, pullStreamCells, secretCell } from './fixtures.test-helpers.ts';
import { mergeReports, type ReportMeta } from './json.ts';
import { readJsonReport, writeReports } from './write.ts';

const CHROMIUM = '/usr/bin/chromium';
// Keep Chromium off the network and out of first-run work; the profile is a fresh empty directory.
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
// The report is served from an origin that cannot resolve: every request is answered by the route
// below, which serves the report itself and refuses (and records) anything else.
const ORIGIN = 'http://report.buildx-lab.invalid';
/** Screenshots a person can look at after the run (reports/ is the lab's output directory, not committed). */
const ARTIFACTS = path.resolve(import.meta.dirname, '../../reports/test-artifacts');

/** The page's getComputedStyle, typed here (the project compiles without the DOM library). */
interface Styled {
  getComputedStyle(e: unknown): { fill: string; color: string };
}

interface Visit {
  page: Page;
  /** every request that was not the report itself */
  outside: string[];
  dialogs: string[];
  /** Content-Security-Policy violations the page reported */
  violations: string[];
}

let context: BrowserContext;
let profile: string;
const pages = new Map<string, string>();

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium is missing at ${CHROMIUM}: run 'make browser' (installs Debian's chromium when nothing installed changes)`);
  profile = await mkdtemp(path.join(os.tmpdir(), 'bxl-chromium-'));
  mkdirSync(ARTIFACTS, { recursive: true });
  context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: FLAGS, offline: false });
  await context.route('**/*', (route) => {
    const url = route.request().url();
    const body = pages.get(url);
    return body === undefined ? route.abort('blockedbyclient') : route.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', body });
  });
}, 120_000);

afterAll(async () => {
  await context?.close();
  if (profile) await rm(profile, { recursive: true, force: true });
});

async function visit(name: string, html: string): Promise<Visit> {
  const url = `${ORIGIN}/${name}`;
  pages.set(url, html);
  const page = await context.newPage();
  const v: Visit = { page, outside: [], dialogs: [], violations: [] };
  page.on('request', (r) => void (r.url() !== url && v.outside.push(r.url())));
  page.on('dialog', (d) => {
    v.dialogs.push(`${d.type()}: ${d.message()}`);
    void d.dismiss();
  });
  page.on('console', (m) => void (/Content Security Policy/i.test(m.text()) && v.violations.push(m.text())));
  await page.goto(url, { waitUntil: 'load' });
  return v;
}

/** Writes the reports as a run does, into a directory removed after `use`. */
async function withReports<T>(results: readonly CellResult[], meta: ReportMeta, use: (html: string, dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bxl-html-'));
  try {
    const paths = await writeReports(dir, results, meta);
    return await use(await readFile(paths.html, 'utf8'), dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Loads `html` as a page, closed after `use`. */
async function withPage<T>(name: string, html: string, use: (v: Visit) => Promise<T>): Promise<T> {
  const v = await visit(name, html);
  try {
    return await use(v);
  } finally {
    await v.page.close();
  }
}

describe('HTML report in Chromium', () => {
  it('the harness sees an outside request when a page makes one', async () => {
    // without this, "no outside request" could mean the recording is broken
    const v = await visit('control.html', '<!doctype html><img src="http://elsewhere.invalid/pixel.png"><link rel="stylesheet" href="https://cdn.invalid/x.css">');
    await v.page.waitForLoadState('load');
    expect(v.outside).toEqual(expect.arrayContaining(['http://elsewhere.invalid/pixel.png', 'https://cdn.invalid/x.css']));
    await v.page.close();
  });

  it('renders every cell with its outcome, opens its evidence on a click, and requests nothing but itself', async () => {
    const results = [...pullStreamCells(), ...immutableTagCells()];
    await withReports(results, META, (html) =>
      withPage('report.html', html, async (v) => {
        const cells = await v.page.$$eval('td.cell[data-cell-name]', (tds) => tds.map((td) => [td.getAttribute('data-cell-name'), td.getAttribute('data-outcome')]));
        for (const r of pullStreamCells()) expect(cells, r.name).toContainEqual([r.name, r.outcome]);

        // the reproduced cell's evidence: hidden until its cell is clicked
        const cell = v.page.locator(`td.cell[data-outcome="reproduced"][data-cell-name="${results[0]!.name}"]`);
        const evidenceId = (await cell.getAttribute('data-targets'))!;
        const evidence = v.page.locator(`#${evidenceId}`);
        const stderr = evidence.getByText('No such image: registry:5000/moby/buildkit:v0.17.1');
        expect(await evidence.getAttribute('open')).toBeNull();
        expect(await stderr.isVisible()).toBe(false);
        await cell.click();
        await stderr.waitFor({ state: 'visible', timeout: 5_000 });
        expect(await evidence.getAttribute('open')).not.toBeNull();
        expect(await evidence.getAttribute('class')).toContain('highlight');

        // a repeated cell opens every repeat
        const flaky = v.page.locator('td.cell.outcome-flaky');
        const ids = (await flaky.getAttribute('data-targets'))!.split(' ');
        expect(ids).toHaveLength(2);
        await flaky.click();
        for (const id of ids) await v.page.locator(`#${id} > p`).first().waitFor({ state: 'visible', timeout: 5_000 });

        expect(v.outside).toEqual([]);
        expect(v.violations).toEqual([]);
      }),
    );
  });

  it("draws a cell's request timeline, the manifest tree with what is missing, and folds a long log under its error line", async () => {
    const results = [doublePushCell(), ...pullStreamCells()];
    await withReports(results, META, (html) =>
      withPage('evidence.html', html, async (v) => {
        await v.page.setViewportSize({ width: 1100, height: 900 });
        const cell = v.page.locator('td.cell[data-outcome="reproduced"]').first();
        const evidence = v.page.locator(`#${await cell.getAttribute('data-targets')}`);
        await cell.click();
        const svg = evidence.locator('svg.timeline');
        await svg.waitFor({ state: 'visible', timeout: 5_000 });
        // drawn, not only present: lanes have height, marks sit inside the drawing
        expect((await svg.boundingBox())!.height).toBeGreaterThan(80);
        expect(await svg.locator('.lane-label').allTextContents()).toEqual(['BuildKit', 'engine', 'verifier']);
        expect(await svg.locator('g.tag-put').count()).toBe(3);
        expect(await svg.locator('g.refused').count()).toBe(1);
        // measured in one go: the page may still be scrolling to the evidence
        const [refused, lane] = await svg.evaluate((el) =>
          ['g.refused rect', 'g.lane[data-lane="engine"] rect'].map((q) => {
            const r = (el as unknown as { querySelector(q: string): { getBoundingClientRect(): { top: number; bottom: number } } }).querySelector(q).getBoundingClientRect();
            return { top: r.top, bottom: r.bottom };
          }),
        );
        expect(refused!.top).toBeGreaterThanOrEqual(lane!.top);
        expect(refused!.bottom).toBeLessThanOrEqual(lane!.bottom);
        // the red of a refusal and the amber of a tag PUT are what a reader sees
        expect(await svg.locator('g.refused rect').evaluate((r) => (globalThis as unknown as Styled).getComputedStyle(r).fill)).toBe('rgb(214, 69, 69)');
        expect(
          await svg
            .locator('g.tag-put:not(.refused) rect')
            .first()
            .evaluate((r) => (globalThis as unknown as Styled).getComputedStyle(r).fill),
        ).toBe('rgb(240, 180, 41)');

        const tree = evidence.locator('figure.manifest-tree');
        expect(await tree.locator('li.missing').allTextContents()).toEqual([expect.stringMatching(/^linux\/arm64 sha256:b{12}… missing: the registry did not return it$/)]);
        expect(await tree.locator('li.missing').evaluate((li) => (globalThis as unknown as Styled).getComputedStyle(li).color)).toBe('rgb(176, 0, 32)');
        expect(await tree.locator('li.landed > .node').allTextContents()).toEqual(['linux/amd64', 'attestation for linux/amd64']);

        // the long log is folded: its error line shows, its 400 lines of progress do not
        const log = evidence.locator('details.log').first();
        await expect.poll(() => log.locator('summary .error-line').isVisible()).toBe(true);
        expect(await log.locator('summary .error-line').textContent()).toContain('ERROR: failed to push lab/bake/app:v1<script>');
        expect(await log.locator('pre').isVisible()).toBe(false);
        await evidence.screenshot({ path: path.join(ARTIFACTS, 'report-evidence.png') });
        await log.locator('summary').click();
        await log.locator('pre').waitFor({ state: 'visible', timeout: 5_000 });

        // tag, log and annotation carry <script>: shown as text, never run
        expect(await v.page.evaluate('typeof window.__pwned')).toBe('undefined');
        expect(await v.page.locator('script').count()).toBe(1);
        expect(v.outside).toEqual([]);
        expect(v.violations).toEqual([]);
      }),
    );
    expect(statSync(path.join(ARTIFACTS, 'report-evidence.png')).size).toBeGreaterThan(10_000);
  });

  describe('a report of hostile evidence', () => {
    const ghToken = `ghp_${'Zx9Qw8Er7T'.repeat(3)}Zx9Qw8`;
    const bearer = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJsYWIifQ.c2lnbmF0dXJlLWZha2UtMTIz';
    const pemBody = 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7fakefakefake';
    const SECRETS = [FAKE_SECRET, FAKE_AUTH, ghToken, bearer, pemBody, 'idtok-fake-123', 'hunter2-fake'];
    // each payload sets a flag that stays unset if the page is inert
    const MARKUP = [
      '<script>window.__pwned = "script"</script>',
      '<img src=x onerror="window.__pwned = \'img\'">',
      '<a href="javascript:window.__pwned = \'link\'" id="evil-link">click me</a>',
      '</textarea><svg onload="window.__pwned = \'svg\'"></svg>',
      '<svg><script>window.__pwned = "svg-script"</script></svg>',
      '</pre></details></section><script>alert("escaped")</script>',
      '<iframe srcdoc="<script>parent.__pwned = \'iframe\'</script>"></iframe>',
      '<body onload="window.__pwned = \'body\'">',
      '<meta http-equiv="refresh" content="0;url=http://evil.invalid/">',
      '<base href="http://evil.invalid/"><link rel="stylesheet" href="http://evil.invalid/x.css">',
      '<style>@import url("http://evil.invalid/y.css");</style>',
      '<form action="http://evil.invalid/"><button id="evil-submit">go</button></form>',
      '"><img src=x onerror="window.__pwned = \'attr\'">',
      "'><svg onload=\"window.__pwned = 'single'\">",
      '\u0000\u0001\u0007\u001b[31mred\u001b[0m\u001b]0;title\u0007\u202Egnp.exe\u0008\u007f',
    ].join('\n');

    function hostileCells(): CellResult[] {
      const base = secretCell();
      const evil = makeCell({
        axes: { buildx: 'v0.21.1', fault: '<img src=x onerror="window.__pwned=\'axis\'">' },
        outcome: 'unexpected',
        expected: 'fixed',
        summary: `summary ${MARKUP}`,
        expectedReason: `reason ${MARKUP}`,
        observed: MARKUP,
        error: { kind: '<b>kind</b>', message: `${MARKUP}\nGITHUB_TOKEN=${ghToken}` },
        evidence: {
          commands: [
            command(
              ['docker', 'buildx', 'build', `--build-arg=X=${MARKUP}`, '--password', 'hunter2-fake'],
              1,
              `${MARKUP}\nAuthorization: Bearer ${bearer}\npassword: hunter2-fake\n-----BEGIN RSA PRIVATE KEY-----\n${pemBody}\n-----END RSA PRIVATE KEY-----\n`,
              `${MARKUP}\n{"auths":{"registry:5000":{"auth":"${FAKE_AUTH}"}}}`,
            ),
          ],
          journal: [journal(1, { path: `/v2/${MARKUP}/manifests/latest?token=${ghToken}`, userAgent: MARKUP, requestMediaType: MARKUP, intervention: MARKUP, status: 400 })],
          manifests: {
            [`lab/app:${MARKUP}`]: {
              schemaVersion: 2,
              annotations: { 'org.opencontainers.image.description': MARKUP, 'org.example.link': 'javascript:window.__pwned="annotation"', 'org.example.token': ghToken },
            },
          },
          engineLog: `${MARKUP}\nlevel=debug msg="Authorization: Basic ${FAKE_AUTH}"`,
          facts: [MARKUP, `registry token ${bearer}`],
        },
      });
      return [...pullStreamCells(), base, evil];
    }

    async function checkInert(v: Visit): Promise<void> {
      // open every piece of evidence and try the links and buttons a payload could have planted
      for (const td of await v.page.locator('td.cell[data-targets]').all()) await td.click();
      for (const id of ['#evil-link', '#evil-submit']) expect(await v.page.locator(id).count(), `${id} exists`).toBe(0);
      await v.page.waitForTimeout(300);
      expect(await v.page.evaluate('typeof window.__pwned')).toBe('undefined');
      expect(v.dialogs).toEqual([]);
      expect(v.outside).toEqual([]);
      expect(await v.page.locator('iframe, img, svg:not(.timeline), form, base, link, meta[http-equiv="refresh"], body [onload], svg.timeline [onload]').count()).toBe(0);
      expect(await v.page.locator('script').count()).toBe(1);
      const dom = await v.page.content();
      const text = await v.page.locator('body').textContent();
      for (const s of SECRETS) {
        expect(dom, `secret ${s} in the DOM`).not.toContain(s);
        expect(text, `secret ${s} in the page text`).not.toContain(s);
      }
      // the payloads are shown, as text
      expect(text).toContain('<script>window.__pwned = "script"</script>');
    }

    it('runs no script, loads nothing and shows no secret', async () => {
      const meta = { ...META, argv: [...META.argv, '--password', 'hunter2-fake', MARKUP] };
      await withReports(hostileCells(), meta, (html) => withPage('hostile.html', html, checkInert));
    });

    it('stays inert once read back and merged, as merge-reports does with shards', async () => {
      const merged = await withReports(hostileCells(), META, async (_html, dir) => mergeReports([await readJsonReport(path.join(dir, 'results.json'))]));
      await withReports(merged.results, merged.meta, (html) => withPage('merged.html', html, checkInert));
    });
  });
});
