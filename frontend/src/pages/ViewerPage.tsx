import { useEffect, useState } from "preact/hooks";
import { api } from "../api/client";
import { HttpSegmentationTransport } from "../api/segmentation";
import { PageState } from "../components/ui";
import { useAsync } from "../components/useAsync";
import { labelSchemaFor } from "../labels";
import { ViewerController } from "../viewer/controller";
import { Viewer } from "../viewer/Viewer";

export function ViewerPage(props: { params?: Record<string, string> }) {
  const slug = props.params?.slug ?? "";
  const seriesId = Number(props.params?.seriesId);
  const data = useAsync(async () => {
    const [project, series] = await Promise.all([api.projects.get(slug), api.imaging.series(slug, seriesId)]);
    return { project, series };
  }, [slug, seriesId]);
  const [controller, setController] = useState<ViewerController | null>(null);

  useEffect(() => {
    if (data.status !== "ready") return;
    const c = new ViewerController({
      slug,
      series: data.data.series,
      schema: labelSchemaFor(slug),
      transport: new HttpSegmentationTransport(slug),
    });
    setController(c);
    return () => {
      c.dispose();
      setController(null);
    };
  }, [data.status, data.data]);

  if (!Number.isInteger(seriesId)) return <PageState kind="error">This address does not name a series.</PageState>;
  if (data.status === "loading") return <PageState kind="loading">Loading the series…</PageState>;
  if (data.status === "error") {
    return (
      <PageState kind="error">
        {data.error.status === 404 ? "This series does not exist in the project, or you cannot see it." : data.error.message}{" "}
        <a href={`/projects/${slug}`}>Back to the project</a>
      </PageState>
    );
  }
  if (!controller) return <PageState kind="loading">Preparing the viewer…</PageState>;
  return <Viewer controller={controller} slug={slug} project={data.data.project} series={data.data.series} />;
}
