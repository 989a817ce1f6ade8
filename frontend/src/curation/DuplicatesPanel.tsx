/** Exact (same decoded pixels) and near (dHash) duplicates of this project's series, and the scan that finds them. */

import { RefreshCw, ScanSearch } from "lucide-preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { type ApiError, api, toApiError } from "../api/client";
import type { DuplicatesReport } from "../api/types";
import { NumberSelect, PageState, Spinner } from "../components/ui";
import { notify } from "../state/notify";
import { groupDuplicates } from "./duplicates";

const POLL_MS = 1500;
const POLL_LIMIT = 80; // two minutes: a large project keeps scanning in the background after that

export function DuplicatesPanel(props: { slug: string }) {
  const [distance, setDistance] = useState(4);
  const [report, setReport] = useState<DuplicatesReport | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [loading, setLoading] = useState(false);
  const [scanning, setScanning] = useState(false);
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const live = useRef(true);
  useEffect(
    () => () => {
      live.current = false;
      if (timer.current) clearTimeout(timer.current);
    },
    [],
  );

  const load = async (d = distance): Promise<DuplicatesReport | null> => {
    setLoading(true);
    try {
      const r = await api.curation.duplicates(props.slug, d);
      if (live.current) {
        setReport(r);
        setError(null);
      }
      return r;
    } catch (err) {
      if (live.current) setError(toApiError(err));
      return null;
    } finally {
      if (live.current) setLoading(false);
    }
  };
  useEffect(() => {
    void load(distance);
  }, [props.slug, distance]);

  const poll = (left: number) => {
    timer.current = setTimeout(async () => {
      const r = await load();
      if (!live.current) return;
      if (r && r.missing > 0 && left > 0) poll(left - 1);
      else setScanning(false);
    }, POLL_MS);
  };
  const scan = async () => {
    setScanning(true);
    try {
      const { missing } = await api.curation.scanDuplicates(props.slug);
      notify("info", missing ? `Fingerprinting ${missing} image${missing === 1 ? "" : "s"} in the background…` : "Every image is fingerprinted already.");
      if (missing) poll(POLL_LIMIT);
      else {
        await load();
        setScanning(false);
      }
    } catch (err) {
      setError(toApiError(err));
      setScanning(false);
    }
  };

  const groups = report ? groupDuplicates(report.pairs) : [];
  return (
    <section class="panel" aria-labelledby="dup-title" data-testid="duplicates-panel">
      <div class="panel__header">
        <h2 id="dup-title">Duplicates</h2>
        <div class="actions actions--tight">
          <NumberSelect
            label="Near: Hamming distance ≤"
            ariaLabel="Maximum distance"
            value={distance}
            options={[0, 1, 2, 3, 4, 5, 6, 7, 8]}
            onChange={setDistance}
          />
          <button class="button button--small" onClick={() => void load()} disabled={loading}>
            <RefreshCw size={14} /> Reload
          </button>
          <button class="button button--primary button--small" onClick={() => void scan()} disabled={scanning}>
            {scanning ? <Spinner size={14} /> : <ScanSearch size={14} />} Scan for duplicates
          </button>
        </div>
      </div>
      <p class="muted small">
        Exact: identical decoded pixels. Near: similar images (difference hash within the distance). Both are compared with every project you
        belong to, so a case copied into another project shows up here.
      </p>
      {error && (
        <p class="form-error" role="alert">
          <strong class="mono">{error.code}</strong>: {error.message}
        </p>
      )}
      {!report && loading && <PageState kind="loading">Looking for duplicates…</PageState>}
      {report && (
        <>
          <p class="small" data-testid="fingerprint-status">
            {report.missing > 0
              ? `${report.missing} image${report.missing === 1 ? " has" : "s have"} no fingerprint yet${scanning ? ": scanning…" : ": run a scan to include them."}`
              : "Every image of the project is fingerprinted."}
          </p>
          {groups.length === 0 ? (
            <p class="muted small" data-testid="duplicates-none">
              No duplicates found.
            </p>
          ) : (
            <ol class="dup-groups" aria-label="Duplicate groups">
              {groups.map((g, i) => (
                <li key={g.series.join("-")} class="dup-group" data-testid="duplicate-group" data-kind={g.kind}>
                  <div class="dup-group__head">
                    <strong>Group {i + 1}</strong>
                    <span class={`status ${g.kind === "exact" ? "status--warn" : "status--info"}`}>{g.kind === "exact" ? "Exact" : "Near"}</span>
                    <span class="small">{g.series.length} series</span>
                    {g.samePatient && <span class="status status--ok">same patient</span>}
                    {g.crossProject && <span class="status status--warn">across projects</span>}
                  </div>
                  <table class="table table--dense">
                    <thead>
                      <tr>
                        <th>Series</th>
                        <th>Series</th>
                        <th class="num">Identical images</th>
                        <th class="num">Similar images</th>
                        <th class="num">Min. distance</th>
                      </tr>
                    </thead>
                    <tbody>
                      {g.pairs.map((p) => (
                        <tr key={`${p.series_a}-${p.series_b}`}>
                          <td>
                            <SeriesRef slug={props.slug} project={p.project_a} series={p.series_a} caseId={p.case_a} />
                          </td>
                          <td>
                            <SeriesRef slug={props.slug} project={p.project_b} series={p.series_b} caseId={p.case_b} />
                          </td>
                          <td class="num">{p.exact_instances}</td>
                          <td class="num">{p.near_instances}</td>
                          <td class="num">{p.min_distance}</td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </li>
              ))}
            </ol>
          )}
        </>
      )}
    </section>
  );
}

function SeriesRef(props: { slug: string; project: string; series: number; caseId: number | null }) {
  return (
    <span>
      <a href={`/projects/${props.project}/series/${props.series}`}>Series {props.series}</a>
      {props.caseId ? <span class="muted small"> · case {props.caseId}</span> : null}
      {props.project !== props.slug && <span class="badge">{props.project}</span>}
    </span>
  );
}
