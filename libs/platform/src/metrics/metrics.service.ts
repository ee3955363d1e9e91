import { getHeapStatistics } from 'node:v8';
import { Injectable } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * How often the event loop's lag is sampled. prom-client's default (10 ms) wakes an idle process 100 times a second:
 * ~4.5 ms of CPU a second on a VM here, most of what each island process cost at rest (docs/performance.md). A block of
 * the loop still shows in full, as the delay of the sample it holds up.
 */
const EVENT_LOOP_SAMPLE_MS = 100;

/**
 * The process's Prometheus registry. Metrics are created once by name; asking for the same name twice
 * returns the same metric, so services can declare what they use without a central list.
 */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();
  private readonly metrics = new Map<string, Counter | Gauge | Histogram>();

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'island_process_', eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
    this.gauge('island_process_heap_size_limit_bytes', "V8's heap size limit: the old-space cap (ISLAND_HEAP_MIB) and the young generation").set(
      getHeapStatistics().heap_size_limit,
    );
  }

  counter(name: string, help: string, labelNames: string[] = []): Counter {
    return this.getOrCreate(name, () => new Counter({ name, help, labelNames, registers: [this.registry] })) as Counter;
  }

  gauge(name: string, help: string, labelNames: string[] = []): Gauge {
    return this.getOrCreate(name, () => new Gauge({ name, help, labelNames, registers: [this.registry] })) as Gauge;
  }

  histogram(name: string, help: string, labelNames: string[] = [], buckets?: number[]): Histogram {
    return this.getOrCreate(name, () => new Histogram({ name, help, labelNames, registers: [this.registry], ...(buckets && { buckets }) })) as Histogram;
  }

  private getOrCreate(name: string, create: () => Counter | Gauge | Histogram) {
    let metric = this.metrics.get(name);
    if (!metric) {
      metric = create();
      this.metrics.set(name, metric);
    }
    return metric;
  }
}
