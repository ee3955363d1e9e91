import { parseMetricSamples } from './metric-samples';

describe('a /metrics text read as samples', () => {
  it('gives each sample its name, its labels as written and its value, and leaves comments out', () => {
    const text = [
      '# HELP island_worker_bytes_uploaded_total Bytes of encoded blocks PUT to Swift',
      '# TYPE island_worker_bytes_uploaded_total counter',
      'island_worker_bytes_uploaded_total 1048576',
      'process_cpu_seconds_total{kind="major fault"} 0.25',
      'island_message_handler_seconds_bucket{le="0.005",contract="snapshot.take.v1"} 3',
      'island_message_handler_seconds_sum{contract="snapshot.take.v1"} 0.0421',
      '',
    ].join('\n');
    expect(parseMetricSamples(text)).toEqual([
      { name: 'island_worker_bytes_uploaded_total', labels: '', value: 1048576 },
      { name: 'process_cpu_seconds_total', labels: 'kind="major fault"', value: 0.25 },
      { name: 'island_message_handler_seconds_bucket', labels: 'le="0.005",contract="snapshot.take.v1"', value: 3 },
      { name: 'island_message_handler_seconds_sum', labels: 'contract="snapshot.take.v1"', value: 0.0421 },
    ]);
  });
});
