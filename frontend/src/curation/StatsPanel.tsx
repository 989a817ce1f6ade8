/** Statistics of the project (or of one snapshot): counts per label, volume and agreement distributions,
 * reader throughput per day, drawn as SVG. */

import { RefreshCw } from "lucide-preact";
import { useEffect, useState } from "preact/hooks";
import { type ApiError, api, toApiError } from "../api/client";
import type { ApiLabel, CurationStats, Snapshot } from "../api/types";
import { NumberSelect, PageState, Spinner } from "../components/ui";
import { notify } from "../state/notify";
import { BarChart, HistogramChart, LineChart } from "./charts";
import { PALETTE, daySeries, histogramBins } from "./plot";

const STATUS_TEXT: Record<string, string> = { reading: "Reading", in_review: "In review", signed: "Signed" };

export function StatsPanel(props: { slug: string; labels: ApiLabel[] }) {
  const [snapshot, setSnapshot] = useState<string>("");
  const [bins, setBins] = useState(10);
  const [days, setDays] = useState(30);
  const [tick, setTick] = useState(0);
  const [stats, setStats] = useState<CurationStats | null>(null);
  const [snapshots, setSnapshots] = useState<Snapshot[]>([]);
  const [error, setError] = useState<ApiError | null>(null);
  const [loading, setLoading] = useState(false);
  const [label, setLabel] = useState<string>("");
  const [refreshing, setRefreshing] = useState(false);
  useEffect(() => {
    api.curation.snapshots(props.slug).then(setSnapshots, () => setSnapshots([]));
  }, [props.slug]);
  useEffect(() => {
    const controller = new AbortController();
    setLoading(true);
    api.curation
      .stats(props.slug, { bins, days, ...(snapshot ? { snapshot: Number(snapshot) } : {}) }, controller.signal)
      .then(
        (s) => {
          setStats(s);
          setError(null);
        },
        (err: unknown) => {
          const e = toApiError(err);
          if (!e.isAbort) setError(e);
        },
      )
      .finally(() => setLoading(false));
    return () => controller.abort();
  }, [props.slug, snapshot, bins, days, tick]);

  const refresh = async () => {
    setRefreshing(true);
    try {
      const { stale } = await api.curation.refreshStats(props.slug);
      notify("info", stale ? `Recomputing statistics of ${stale} case${stale === 1 ? "" : "s"} in the background…` : "The statistics are up to date.");
      if (stale) await new Promise((r) => setTimeout(r, 2000));
      setTick((t) => t + 1);
    } catch (err) {
      setError(toApiError(err));
    } finally {
      setRefreshing(false);
    }
  };

  const colorOf = (value: number, i: number) => props.labels.find((l) => l.value === value)?.color ?? PALETTE[i % PALETTE.length]!;
  const present = stats?.labels.filter((l) => l.cases > 0) ?? [];
  const chosen = present.find((l) => String(l.value) === label) ?? present[0];
  const throughput = stats ? daySeries(stats.throughput.from, stats.throughput.to, stats.throughput.readers) : null;
  return (
    <section class="panel stats-panel" aria-labelledby="stats-title" data-testid="stats-panel">
      <div class="panel__header">
        <h2 id="stats-title">Statistics</h2>
        <div class="actions actions--tight">
          <label class="field field--inline small">
            Cases
            <select class="select" aria-label="Statistics of" value={snapshot} onChange={(e) => setSnapshot(e.currentTarget.value)}>
              <option value="">the whole project</option>
              {snapshots.map((s) => (
                <option key={s.id} value={String(s.id)}>
                  snapshot {s.name} v{s.version}
                </option>
              ))}
            </select>
          </label>
          <NumberSelect label="Bins" ariaLabel="Histogram bins" value={bins} options={[5, 10, 20, 50]} onChange={setBins} />
          <NumberSelect label="Days" ariaLabel="Throughput days" value={days} options={[7, 30, 90, 365]} onChange={setDays} />
          <button class="button button--small" onClick={() => void refresh()} disabled={refreshing}>
            {refreshing ? <Spinner size={14} /> : <RefreshCw size={14} />} Refresh statistics
          </button>
        </div>
      </div>
      {error && (
        <p class="form-error" role="alert">
          <strong class="mono">{error.code}</strong>: {error.message}
        </p>
      )}
      {!stats && loading && <PageState kind="loading">Computing statistics…</PageState>}
      {stats && (
        <>
          <dl class="stats stats--wide" data-testid="stats-summary">
            <div>
              <dt>Cases</dt>
              <dd>{stats.cases}</dd>
            </div>
            {Object.entries(stats.status).map(([k, v]) => (
              <div key={k}>
                <dt>{STATUS_TEXT[k] ?? k}</dt>
                <dd>{v}</dd>
              </div>
            ))}
            <div>
              <dt>Mean Dice</dt>
              <dd>{stats.agreement.mean === null ? "—" : stats.agreement.mean.toFixed(3)}</dd>
            </div>
          </dl>
          <div class="chart-grid">
            <div class="chart-card">
              <h3>Cases per label</h3>
              <BarChart
                title="Cases per label"
                yLabel="cases"
                testid="chart-labels"
                empty="No label statistics yet: they appear once reads are submitted."
                bars={stats.labels.map((l, i) => ({
                  label: l.name || `Label ${l.value}`,
                  value: l.cases,
                  color: colorOf(l.value, i),
                  title: `${l.name || `Label ${l.value}`}: ${l.cases} cases, ${l.total_volume_ml.toFixed(1)} mL in all`,
                }))}
              />
            </div>
            <div class="chart-card">
              <h3>
                Volume distribution
                {present.length > 1 && (
                  <select class="select chart-card__select" aria-label="Volume of label" value={chosen ? String(chosen.value) : ""} onChange={(e) => setLabel(e.currentTarget.value)}>
                    {present.map((l) => (
                      <option key={l.value} value={String(l.value)}>
                        {l.name || `Label ${l.value}`}
                      </option>
                    ))}
                  </select>
                )}
                {present.length === 1 && chosen && <span class="muted small"> · {chosen.name || `Label ${chosen.value}`}</span>}
              </h3>
              <HistogramChart
                title={`Volume of ${chosen?.name ?? "labels"} (mL)`}
                bins={histogramBins(chosen?.volume_histogram)}
                xLabel="volume (mL)"
                color={chosen ? colorOf(chosen.value, 0) : undefined}
                testid="chart-volume"
                empty="No labelled case yet."
              />
            </div>
            <div class="chart-card">
              <h3>Agreement between readers</h3>
              <HistogramChart
                title="Mean Dice per case"
                bins={histogramBins(stats.agreement.mean_dice_histogram)}
                xLabel={`mean Dice per case (${stats.agreement.cases} cases)`}
                color="#32d583"
                testid="chart-agreement"
                empty="No case has two submitted reads yet."
              />
            </div>
            <div class="chart-card">
              <h3>Reader throughput</h3>
              {throughput && (
                <LineChart
                  title="Reads submitted per day"
                  days={throughput.days}
                  series={throughput.series}
                  testid="chart-throughput"
                  empty={`No read submitted from ${stats.throughput.from} to ${stats.throughput.to}.`}
                />
              )}
            </div>
          </div>
        </>
      )}
    </section>
  );
}
