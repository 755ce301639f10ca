import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface Series {
  label: string;
  color: string;
  values: number[];
}

/**
 * A time chart drawn by uPlot (a small canvas charting library). Canvas is not read by screen readers, so the chart
 * carries a text summary as its accessible name, and the page shows the same figures as text.
 */
export function TimeChart({ title, times, series, summary, kind = 'line' }: { title: string; times: number[]; series: Series[]; summary: string; kind?: 'line' | 'bars' }) {
  const host = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const element = host.current;
    if (!element) return;
    const width = Math.max(320, Math.min(element.clientWidth || 720, 960));
    const paths = kind === 'bars' ? uPlot.paths.bars?.({ size: [0.6, 40] }) : undefined;
    const chart = new uPlot(
      {
        width,
        height: 220,
        legend: { show: false },
        cursor: { show: true, drag: { x: false, y: false } },
        scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max)] } },
        axes: [{ stroke: '#333' }, { stroke: '#333' }],
        series: [{}, ...series.map((one) => ({ label: one.label, stroke: one.color, width: 2, fill: kind === 'bars' ? one.color : undefined, ...(paths ? { paths } : {}) }))],
      },
      [times, ...series.map((one) => one.values)],
      element,
    );
    return () => chart.destroy();
  }, [times, series, kind]);
  return (
    <figure className="chart">
      <div ref={host} role="img" aria-label={`${title}: ${summary}`} />
      <figcaption>
        <strong>{title}</strong>{' '}
        {series.map((one) => (
          <span key={one.label} className="legend">
            <span className="swatch" style={{ background: one.color }} aria-hidden="true" /> {one.label}
          </span>
        ))}
        <span className="summary">{summary}</span>
      </figcaption>
    </figure>
  );
}

/** Buckets every `stepSeconds` from `fromMs` to `toMs`, with the rows' values summed into them (empty ones at 0). */
export function buckets<T extends { time: string }>(rows: T[], fromMs: number, toMs: number, stepSeconds: number, pick: ((row: T) => number)[]) {
  const step = stepSeconds * 1000;
  const start = Math.floor(fromMs / step) * step;
  const times: number[] = [];
  for (let at = start; at <= toMs; at += step) times.push(at / 1000);
  const sums = pick.map(() => times.map(() => 0));
  for (const row of rows) {
    const index = Math.floor((Date.parse(row.time) - start) / step);
    if (index < 0 || index >= times.length) continue;
    pick.forEach((of, which) => (sums[which]![index]! += of(row)));
  }
  return { times, sums };
}
