import { isCompatible, resolveMethod, RpcEndpoint } from './dispatcher';
import { decodeRequest, encodeReply, loggableContext, MalformedRpcMessageError } from './envelope';
import { RemoteFailure } from './remote-failure';

// bodies as the Python RPCClient (oslo.messaging 14.0.3) sent them, captured on the wire
const CAPTURED_CALL =
  '{"oslo.version": "2.0", "oslo.message": "{\\"method\\": \\"echo\\", \\"args\\": {\\"x\\": [1, \\"a\\"], \\"y\\": {\\"k\\": null}}, \\"version\\": \\"1.2\\", \\"_msg_id\\": \\"99dfc1c925cc4fd0b546b2e3241fb9d9\\", \\"_reply_q\\": \\"reply_81e26692155d46eab7342c80d9c94e1f\\", \\"_timeout\\": null, \\"_unique_id\\": \\"a28d3163702a4c969c93ab5f93ff9d35\\", \\"_context_user_id\\": \\"u1\\", \\"_context_project_id\\": \\"p1\\", \\"_context_request_id\\": \\"req-123\\"}"}';
const CAPTURED_CAST =
  '{"oslo.version": "2.0", "oslo.message": "{\\"method\\": \\"record\\", \\"args\\": {\\"note\\": \\"hello\\"}, \\"version\\": \\"1.2\\", \\"_unique_id\\": \\"9a941f08a130450397bc7795b17577e1\\", \\"_context_user_id\\": \\"u1\\", \\"_context_project_id\\": \\"p1\\", \\"_context_request_id\\": \\"req-123\\"}"}';

describe('the oslo.messaging wire format', () => {
  it('decodes a captured call with its reply address, version and context', () => {
    expect(decodeRequest(Buffer.from(CAPTURED_CALL))).toEqual({
      method: 'echo',
      args: { x: [1, 'a'], y: { k: null } },
      version: '1.2',
      namespace: null,
      context: { user_id: 'u1', project_id: 'p1', request_id: 'req-123' },
      msgId: '99dfc1c925cc4fd0b546b2e3241fb9d9',
      replyQueue: 'reply_81e26692155d46eab7342c80d9c94e1f',
      uniqueId: 'a28d3163702a4c969c93ab5f93ff9d35',
    });
  });

  it('decodes a captured cast as a request that wants no reply', () => {
    const cast = decodeRequest(Buffer.from(CAPTURED_CAST));
    expect(cast).toMatchObject({ method: 'record', args: { note: 'hello' }, version: '1.2' });
    expect(cast.msgId).toBeUndefined();
    expect(cast.replyQueue).toBeUndefined();
  });

  it('treats a request without a version as 1.0', () => {
    const body = JSON.stringify({ 'oslo.version': '2.0', 'oslo.message': JSON.stringify({ method: 'm', args: {} }) });
    expect(decodeRequest(Buffer.from(body)).version).toBe('1.0');
  });

  it.each([
    ['not JSON', 'nope', /not JSON/],
    ['an unknown envelope version', JSON.stringify({ 'oslo.version': '3.0', 'oslo.message': '{}' }), /oslo.version/],
    ['no method', JSON.stringify({ 'oslo.version': '2.0', 'oslo.message': JSON.stringify({ args: {} }) }), /method is missing/],
    ['positional args', JSON.stringify({ 'oslo.version': '2.0', 'oslo.message': JSON.stringify({ method: 'm', args: [1] }) }), /args is not an object/],
    ['a call with no reply queue', JSON.stringify({ 'oslo.version': '2.0', 'oslo.message': JSON.stringify({ method: 'm', _msg_id: 'x' }) }), /_reply_q/],
    ['a bad version', JSON.stringify({ 'oslo.version': '2.0', 'oslo.message': JSON.stringify({ method: 'm', version: 'one' }) }), /not N.N/],
  ])('refuses %s with a specific error', (_, body, message) => {
    expect(() => decodeRequest(Buffer.from(body))).toThrow(MalformedRpcMessageError);
    expect(() => decodeRequest(Buffer.from(body))).toThrow(message);
  });

  it('encodes a failure as a JSON string inside the reply, with class, module, args, kwargs and a traceback list', () => {
    const body = JSON.parse(
      encodeReply({
        msgId: 'm1',
        ending: true,
        failure: new RemoteFailure('VolumeNotFound', 'cinder.exception', 'Volume v could not be found.', { volume_id: 'v' }),
      }).toString(),
    );
    expect(body['oslo.version']).toBe('2.0');
    const inner = JSON.parse(body['oslo.message']);
    expect(inner).toMatchObject({ result: null, ending: true, _msg_id: 'm1' });
    expect(typeof inner.failure).toBe('string');
    expect(JSON.parse(inner.failure)).toEqual({
      class: 'VolumeNotFound',
      module: 'cinder.exception',
      message: 'Volume v could not be found.',
      tb: ['cinder.exception.VolumeNotFound: Volume v could not be found.\n'],
      args: ['Volume v could not be found.'],
      kwargs: { volume_id: 'v' },
    });
  });

  it('encodes a heartbeat as a reply that does not end the call', () => {
    const inner = JSON.parse(JSON.parse(encodeReply({ msgId: 'm1', ending: false }).toString())['oslo.message']);
    expect(inner).toMatchObject({ result: null, failure: null, ending: false, _msg_id: 'm1' });
  });

  it('never shows the auth token in what it logs of a context', () => {
    expect(loggableContext({ auth_token: 'secret', project_id: 'p', request_id: 'r' })).toEqual({ project_id: 'p', request_id: 'r' });
  });
});

describe('dispatching as oslo does', () => {
  const call = (method: string, version = '1.0', namespace: string | null = null) => ({ method, args: {}, version, namespace, context: {} });
  const endpoints: RpcEndpoint[] = [
    { version: '1.3', namespace: null, methods: { create_volume: async () => 'v', _private: async () => 'no' } },
    { version: '2.0', namespace: 'admin', methods: { purge: async () => 'p' } },
  ];

  it("accepts the same major with a minor up to the endpoint's", () => {
    expect(isCompatible('1.3', '1.0')).toBe(true);
    expect(isCompatible('1.3', '1.3')).toBe(true);
    expect(isCompatible('1.3', '1.4')).toBe(false);
    expect(isCompatible('1.3', '2.0')).toBe(false);
    expect(isCompatible('1.3', '1.3.1')).toBe(false);
  });

  it("finds a method of a compatible endpoint in the request's namespace", async () => {
    await expect(resolveMethod(endpoints, call('create_volume', '1.2'))({}, {})).resolves.toBe('v');
    await expect(resolveMethod(endpoints, call('purge', '2.0', 'admin'))({}, {})).resolves.toBe('p');
  });

  it('answers NoSuchMethod for a method a compatible endpoint lacks, private names included', () => {
    for (const method of ['delete_everything', '_private', 'toString']) {
      expect(() => resolveMethod(endpoints, call(method))).toThrow(
        expect.objectContaining({ className: 'NoSuchMethod', module: 'oslo_messaging.rpc.dispatcher' }),
      );
    }
  });

  it('answers UnsupportedVersion when no endpoint speaks the version or namespace', () => {
    expect(() => resolveMethod(endpoints, call('create_volume', '1.4'))).toThrow(expect.objectContaining({ className: 'UnsupportedVersion' }));
    expect(() => resolveMethod(endpoints, call('create_volume', '1.0', 'admin'))).toThrow(expect.objectContaining({ className: 'UnsupportedVersion' }));
  });
});
