// Job: the Variants panel: a VCF and a reference FASTA (or one sequence with REF/ALT) scored by the library's vep code in the worker; table sortable by score, llr plot, CSV download.

import { barChart } from './charts.js';
import { $, formatCount, hideProgress, offerDownload, progressReporter, say, withdrawDownload } from './ui.js';
import { TABLE_ROWS, page, state } from './page-state.js';
import { fetchText, holdKind, readBatch, readInteger, showHeldFile } from './inputs.js';
import { UserError, formatBytes } from './files.js';

export const VEP_EXAMPLE_VCF = './data/variants.vcf';

export async function loadVepExample() {
  const [vcf, fasta] = await Promise.all([fetchText(VEP_EXAMPLE_VCF, 'the example VCF'), fetchText('./data/sample.fa', 'the example FASTA')]);
  $('vep-vcf').value = vcf;
  dropHeldReference();
  $('vep-ref').value = fasta;
  say('vep-status', 'Example: variants.vcf on sample.fa (its records are the chromosomes).');
}

/** One sequence with REF/ALT at a 1-based position, as a one-record VCF and FASTA (chromosome "seq"). */
export function fillSingle() {
  const seq = $('vep-seq').value.replace(/\s+/g, '');
  const pos = readInteger('vep-pos', 'The position', { min: 1 });
  const ref = $('vep-refallele').value.trim();
  const alt = $('vep-alt').value.trim();
  if (!seq) throw new UserError('Paste the sequence the variant is on.');
  if (!ref || !alt) throw new UserError('Give both REF and ALT (bases).');
  dropHeldReference();
  $('vep-ref').value = `>seq\n${seq}\n`;
  $('vep-vcf').value = `##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\nseq\t${pos}\tvariant\t${ref}\t${alt}\t.\t.\t.\n`;
  say('vep-status', 'The VCF and FASTA boxes now hold this variant: press "Score variants".');
}

export async function readFileInto(fileId, textId) {
  const file = $(fileId).files[0];
  if (!file) return;
  $(textId).value = await file.text();
}

/** A large or gzip reference genome is held as its File: the worker reads it in slices and keeps only the windows. */
let heldReference = null;

export async function openReferenceFile() {
  const file = $('vep-ref-file').files[0];
  if (!file) return;
  if (await holdKind(file)) {
    heldReference = file;
    showHeldFile($('vep-ref'), file, 'not shown; only the windows around the variants are read from it');
  } else {
    heldReference = null;
    showHeldFile($('vep-ref'), null);
    $('vep-ref').value = await file.text();
  }
}

/** Back to the reference box's text (typed, or filled by the page): a held reference file is dropped. */
export function dropHeldReference() {
  if (!heldReference) return;
  heldReference = null;
  showHeldFile($('vep-ref'), null);
}

export async function runVep() {
  const vcf = $('vep-vcf').value;
  const reference = heldReference ? '' : $('vep-ref').value;
  if (!vcf.trim()) throw new UserError('variants: paste or open a VCF (or fill it from one sequence below).');
  if (!heldReference && !reference.trim()) throw new UserError('reference: paste or open the FASTA of the region the VCF names.');
  const flank = readInteger('vep-flank', 'The flank', { min: 0, max: 50000 });
  const batchSize = readBatch();
  withdrawDownload('vep-csv');
  $('vep-figure').hidden = true;
  $('vep-table').replaceChildren();
  const started = performance.now();
  const referenceName = heldReference?.name;
  const describe = (done, total, stage) => (stage === 'reading'
    ? `Reading ${referenceName} for the windows: ${formatBytes(done)} of ${formatBytes(total)}…`
    : `Scoring: ${formatCount(done)} of ${formatCount(total)} windows…`);
  const r = await state.client.call('vep', { vcf, reference, referenceFile: heldReference, flank, batchSize }, {
    onProgress: progressReporter('vep-progress', 'vep-status', describe),
  }).finally(() => hideProgress('vep-progress'));
  const seconds = (performance.now() - started) / 1000;
  const values = new Float64Array(r.values);
  const width = r.columns.length;
  const rows = Array.from({ length: r.rows }, (_, i) => ({
    chrom: r.chrom[i],
    pos: r.pos[i],
    id: r.id[i],
    ref: r.ref[i],
    alt: r.alt[i],
    scores: Array.from(values.subarray(i * width, (i + 1) * width)),
  }));
  page.lastVep = { columns: r.columns, classes: r.classes, rows, csv: r.csv };
  const skipped = r.symbolic ? ` ${formatCount(r.symbolic)} symbolic ALT alleles skipped.` : '';
  say('vep-status', `${formatCount(r.rows)} ALT alleles scored (flank ${flank}) in ${seconds.toFixed(1)} s.${skipped}`, 'ok');
  offerDownload('vep-csv', new Blob([r.csv], { type: 'text/csv' }), 'scores.csv');
  const name = (row) => `${row.id !== '.' ? row.id : `${row.chrom}:${row.pos}`} ${row.ref}>${row.alt}`;
  barChart($('vep-plot'), rows.map((row) => row.scores[0]), { names: rows.map(name), xLabel: 'variant (VCF order)', yLabel: 'llr', title: 'llr per variant' });
  $('vep-figure').hidden = false;
  showTable(r.columns, rows, { column: 0, descending: false });
}

/** The scores table, sorted by score column `column` (click a score header to sort by it; again to reverse). */
function showTable(columns, rows, sort) {
  const sorted = [...rows].sort((a, b) => (sort.descending ? -1 : 1) * (a.scores[sort.column] - b.scores[sort.column]));
  const table = document.createElement('table');
  table.id = 'vep-scores';
  const caption = document.createElement('caption');
  caption.textContent = `Variant scores, by ${columns[sort.column]} ${sort.descending ? 'descending' : 'ascending'}` +
    (rows.length > TABLE_ROWS ? ` (the first ${formatCount(TABLE_ROWS)} of ${formatCount(rows.length)}; the CSV has all)` : '');
  table.append(caption);
  const head = table.createTHead().insertRow();
  for (const h of ['chrom', 'pos', 'id', 'ref', 'alt']) {
    const th = document.createElement('th');
    th.scope = 'col';
    th.textContent = h;
    head.append(th);
  }
  columns.forEach((c, k) => {
    const th = document.createElement('th');
    th.scope = 'col';
    const sortedHere = k === sort.column;
    th.setAttribute('aria-sort', sortedHere ? (sort.descending ? 'descending' : 'ascending') : 'none');
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'sort';
    button.dataset.column = c;
    button.textContent = sortedHere ? `${c} ${sort.descending ? '▼' : '▲'}` : c;
    button.addEventListener('click', () => showTable(columns, rows, { column: k, descending: sortedHere ? !sort.descending : false }));
    th.append(button);
    head.append(th);
  });
  const body = table.createTBody();
  for (const row of sorted.slice(0, TABLE_ROWS)) {
    const tr = body.insertRow();
    for (const v of [row.chrom, row.pos, row.id, row.ref, row.alt]) tr.insertCell().textContent = String(v);
    for (const v of row.scores) tr.insertCell().textContent = v.toPrecision(4);
  }
  const box = document.createElement('div');
  box.className = 'table-box scroll';
  box.tabIndex = 0;
  box.setAttribute('role', 'region');
  box.setAttribute('aria-label', 'Variant scores table');
  box.append(table);
  $('vep-table').replaceChildren(box);
  page.vepOrder = sorted.map((row) => `${row.chrom}:${row.pos}:${row.ref}>${row.alt}`);
}
