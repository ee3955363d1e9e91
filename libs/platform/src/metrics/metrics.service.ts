import { getHeapStatistics } from 'node:v8';
import { Injectable } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * The process's Prometheus registry. Metrics are created once by name; asking for the same name twice
 * returns the same metric, so services can declare what they use without a central list.
 */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();
  private readonly metrics = new Map<string, Counter | Gauge | Histogram>();

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'island_process_' });
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
