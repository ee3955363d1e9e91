"""Calls island the way Cinder would: with Debian's oslo.messaging RPCClient, nothing else.

Reads one JSON request from stdin:
  {"url", "exchange", "topic", "calls": [{"method", "kwargs", "context", "cast", "fanout", "server",
    "version", "namespace", "timeout", "call_monitor_timeout", "concurrent"}]}
and prints one JSON line per call: {"result": ...} or {"error": {"class", "module", "message", "kwargs",
"remote_class"}}. Calls run in order; a call with "concurrent": n is sent n times at once from threads.
"""
import json
import os
import sys
import threading

from oslo_config import cfg
import oslo_messaging as messaging


def describe(error):
    described = {
        "class": type(error).__name__,
        "module": type(error).__module__,
        "message": str(error).split("\n")[0],
        "kwargs": getattr(error, "kwargs", None),
    }
    if isinstance(error, messaging.RemoteError):
        described["remote_class"] = error.exc_type
    return described


def main():
    request = json.load(sys.stdin)
    messaging.set_transport_defaults(control_exchange=request["exchange"])
    # Cinder's own setting: its exceptions come back as themselves when cinder is importable
    transport = messaging.get_rpc_transport(cfg.CONF, url=request["url"], allowed_remote_exmods=["cinder.exception"])
    target = messaging.Target(topic=request["topic"])
    client = messaging.get_rpc_client(transport, target)
    for call in request["calls"]:
        options = {k: call[k] for k in ("version", "namespace", "server", "fanout", "timeout", "call_monitor_timeout") if call.get(k) is not None}
        prepared = client.prepare(**options)
        context = call.get("context", {})

        def invoke():
            if call.get("cast"):
                prepared.cast(context, call["method"], **call.get("kwargs", {}))
                return {"result": None}
            try:
                return {"result": prepared.call(context, call["method"], **call.get("kwargs", {}))}
            except Exception as error:  # every failure is an outcome to report
                return {"error": describe(error)}

        count = call.get("concurrent", 1)
        if count == 1:
            outcome = invoke()
        else:
            outcomes = [None] * count

            def run(i):
                outcomes[i] = invoke()

            threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            outcome = {"results": outcomes}
        print(json.dumps(outcome), flush=True)
    transport.cleanup()


if __name__ == "__main__":
    main()
    sys.stdout.flush()
    # kombu's heartbeat thread keeps the interpreter alive for seconds after cleanup; nothing is left to do
    os._exit(0)
