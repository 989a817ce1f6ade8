/** Small SVG charts for the curation statistics: bars, histograms and per-day lines. No chart library. */

import type { Bin, DaySeries } from "./plot";
import { PALETTE, formatNumber, niceTicks } from "./plot";

const W = 560;
const H = 220;
const M = { top: 12, right: 12, bottom: 42, left: 44 };
const IW = W - M.left - M.right;
const IH = H - M.top - M.bottom;

function YAxis(props: { ticks: number[]; top: number }) {
  const y = (v: number) => M.top + IH - (v / props.top) * IH;
  return (
    <g class="chart__axis">
      {props.ticks.map((t) => (
        <g key={t}>
          <line x1={M.left} x2={W - M.right} y1={y(t)} y2={y(t)} class="chart__grid" />
          <text x={M.left - 6} y={y(t) + 4} text-anchor="end">
            {formatNumber(t)}
          </text>
        </g>
      ))}
    </g>
  );
}

function Empty(props: { text: string; testid?: string }) {
  return (
    <p class="muted small chart__empty" data-testid={props.testid}>
      {props.text}
    </p>
  );
}

export interface Bar {
  label: string;
  value: number;
  color?: string;
  title?: string;
}

/** One bar per category (counts per label). */
export function BarChart(props: { title: string; bars: Bar[]; yLabel: string; testid: string; empty: string }) {
  if (props.bars.length === 0) return <Empty text={props.empty} testid={props.testid} />;
  const max = Math.max(...props.bars.map((b) => b.value), 0);
  const ticks = niceTicks(max || 1);
  const top = ticks[ticks.length - 1]!;
  const slot = IW / props.bars.length;
  const width = Math.min(56, slot * 0.7);
  return (
    <figure class="chart" data-testid={props.testid}>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`${props.title}: ${props.bars.map((b) => `${b.label} ${b.value}`).join(", ")}`}>
        <YAxis ticks={ticks} top={top} />
        {props.bars.map((b, i) => {
          const h = (b.value / top) * IH;
          const x = M.left + i * slot + (slot - width) / 2;
          return (
            <g key={b.label} class="chart__bar" data-value={b.value}>
              <rect x={x} y={M.top + IH - h} width={width} height={Math.max(h, 0)} fill={b.color ?? PALETTE[i % PALETTE.length]} rx={2}>
                <title>{b.title ?? `${b.label}: ${b.value}`}</title>
              </rect>
              <text x={x + width / 2} y={M.top + IH - h - 4} text-anchor="middle" class="chart__value">
                {formatNumber(b.value)}
              </text>
              <text x={x + width / 2} y={H - M.bottom + 16} text-anchor="middle" class="chart__label">
                {b.label.length > 14 ? `${b.label.slice(0, 13)}…` : b.label}
              </text>
            </g>
          );
        })}
        <text x={12} y={M.top + IH / 2} transform={`rotate(-90 12 ${M.top + IH / 2})`} text-anchor="middle" class="chart__label">
          {props.yLabel}
        </text>
      </svg>
      <figcaption class="sr-only">{props.title}</figcaption>
    </figure>
  );
}

/** Adjacent bars over numeric bins (volume in mL, Dice 0..1). */
export function HistogramChart(props: { title: string; bins: Bin[]; xLabel: string; color?: string; testid: string; empty: string }) {
  if (props.bins.length === 0 || props.bins.every((b) => b.count === 0)) return <Empty text={props.empty} testid={props.testid} />;
  const max = Math.max(...props.bins.map((b) => b.count));
  const ticks = niceTicks(max);
  const top = ticks[ticks.length - 1]!;
  const slot = IW / props.bins.length;
  const every = Math.ceil(props.bins.length / 6);
  return (
    <figure class="chart" data-testid={props.testid}>
      <svg
        viewBox={`0 0 ${W} ${H}`}
        role="img"
        aria-label={`${props.title}: ${props.bins.filter((b) => b.count > 0).map((b) => `${b.label} ${b.count}`).join(", ")}`}
      >
        <YAxis ticks={ticks} top={top} />
        {props.bins.map((b, i) => {
          const h = (b.count / top) * IH;
          const x = M.left + i * slot;
          return (
            <g key={i} class="chart__bar" data-value={b.count}>
              <rect x={x + 1} y={M.top + IH - h} width={Math.max(slot - 2, 1)} height={h} fill={props.color ?? PALETTE[0]}>
                <title>{`${b.label}: ${b.count}`}</title>
              </rect>
            </g>
          );
        })}
        {props.bins.map((b, i) =>
          i % every === 0 || i === props.bins.length - 1 ? (
            <text key={`e${i}`} x={M.left + i * slot} y={H - M.bottom + 16} text-anchor="middle" class="chart__label">
              {formatNumber(b.from)}
            </text>
          ) : null,
        )}
        <text x={W - M.right} y={H - M.bottom + 16} text-anchor="end" class="chart__label">
          {formatNumber(props.bins[props.bins.length - 1]!.to)}
        </text>
        <text x={M.left + IW / 2} y={H - 6} text-anchor="middle" class="chart__label">
          {props.xLabel}
        </text>
      </svg>
      <figcaption class="sr-only">{props.title}</figcaption>
    </figure>
  );
}

/** One line per reader over the days of the window, with a legend of totals. */
export function LineChart(props: { title: string; days: string[]; series: DaySeries[]; testid: string; empty: string }) {
  if (props.days.length === 0 || props.series.length === 0) return <Empty text={props.empty} testid={props.testid} />;
  const max = Math.max(...props.series.flatMap((s) => s.values), 0);
  const ticks = niceTicks(max || 1);
  const top = ticks[ticks.length - 1]!;
  const step = props.days.length > 1 ? IW / (props.days.length - 1) : 0;
  const x = (i: number) => M.left + (props.days.length > 1 ? i * step : IW / 2);
  const y = (v: number) => M.top + IH - (v / top) * IH;
  const every = Math.ceil(props.days.length / 6);
  return (
    <figure class="chart" data-testid={props.testid}>
      <svg
        viewBox={`0 0 ${W} ${H}`}
        role="img"
        aria-label={`${props.title}: ${props.series.map((s) => `${s.name} ${s.total}`).join(", ")} from ${props.days[0]} to ${props.days[props.days.length - 1]}`}
      >
        <YAxis ticks={ticks} top={top} />
        {props.days.map((d, i) =>
          i % every === 0 || i === props.days.length - 1 ? (
            <text key={d} x={x(i)} y={H - M.bottom + 16} text-anchor="middle" class="chart__label">
              {d.slice(5)}
            </text>
          ) : null,
        )}
        {props.series.map((s, si) => {
          const color = PALETTE[si % PALETTE.length]!;
          return (
            <g key={s.name} class="chart__series" data-reader={s.name}>
              <polyline fill="none" stroke={color} stroke-width={2} points={s.values.map((v, i) => `${x(i)},${y(v)}`).join(" ")} />
              {s.values.map((v, i) =>
                v > 0 ? (
                  <circle key={i} cx={x(i)} cy={y(v)} r={3} fill={color}>
                    <title>{`${s.name}, ${props.days[i]}: ${v}`}</title>
                  </circle>
                ) : null,
              )}
            </g>
          );
        })}
      </svg>
      <figcaption class="chart__legend">
        {props.series.map((s, si) => (
          <span key={s.name}>
            <span class="chart__swatch" style={{ background: PALETTE[si % PALETTE.length] }} aria-hidden="true" />
            {s.name}: {s.total}
          </span>
        ))}
      </figcaption>
    </figure>
  );
}
