// A time-series chart: uPlot on a canvas. The data arrays are replaced, never mutated, so the
// chart redraws when they change.
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";

export interface Series {
  label: string;
  color: string;
  values: Array<number | null>;
}

export interface ChartProps {
  title: string;
  times_s: number[];  // x: seconds since the epoch
  series: Series[];
  unit: string;       // shown on the y axis
  step?: boolean;     // a balance holds its value until the next change
  test?: string;
}

export function Chart(props: ChartProps) {
  const holder = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const shape = `${props.series.map((s) => s.label).join("|")}|${props.step ? 1 : 0}`;

  useEffect(() => {
    const element = holder.current;
    if (element === null) return;
    const options: uPlot.Options = {
      width: Math.max(320, element.clientWidth),
      height: 220,
      scales: { x: { time: true } },
      axes: [{}, { label: props.unit, size: 80 }],
      series: [
        {},
        ...props.series.map((s) => ({
          label: s.label,
          stroke: s.color,
          width: 2,
          ...(props.step ? { paths: uPlot.paths.stepped!({ align: 1 }) } : {}),
        })),
      ],
      legend: { live: true },
    };
    const created = new uPlot(options, data(props), element);
    plot.current = created;
    const resize = () => created.setSize({ width: Math.max(320, element.clientWidth), height: 220 });
    addEventListener("resize", resize);
    return () => {
      removeEventListener("resize", resize);
      created.destroy();
      plot.current = null;
    };
  }, [shape]);

  useEffect(() => {
    plot.current?.setData(data(props));
  }, [props.times_s, props.series]);

  return (
    <figure class="chart" data-test={props.test}>
      <figcaption>{props.title}</figcaption>
      {/* The first series' ends, for tests and scripts: the canvas shows them only as pixels. */}
      <div
        ref={holder}
        data-points={props.times_s.length}
        data-first={String(props.series[0]?.values[0] ?? "")}
        data-last={String(props.series[0]?.values.at(-1) ?? "")}
      />
    </figure>
  );
}

function data(props: ChartProps): uPlot.AlignedData {
  return [props.times_s, ...props.series.map((s) => s.values)] as uPlot.AlignedData;
}
