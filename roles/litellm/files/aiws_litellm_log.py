"""aiws's request log for LiteLLM: one line per model call, naming the consumer whose key
made it (LiteLLM itself logs only the HTTP request line, without the key's owner).

Loaded by the proxy from its configuration directory (litellm_settings.callbacks). The line
goes to the unit's journal: no prompt, no answer, no key.
"""

import sys

from litellm.integrations.custom_logger import CustomLogger


def _line(kwargs, outcome):
    payload = kwargs.get("standard_logging_object") or {}
    metadata = payload.get("metadata") or {}
    consumer = metadata.get("user_api_key_user_id") or "-"
    model = payload.get("model_group") or kwargs.get("model") or "-"
    call = payload.get("call_type") or kwargs.get("call_type") or "-"
    return "aiws request: consumer=%s model=%s call=%s outcome=%s" % (
        consumer,
        model,
        call,
        outcome,
    )


class RequestLog(CustomLogger):
    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        print(_line(kwargs, "ok"), file=sys.stderr, flush=True)

    async def async_log_failure_event(self, kwargs, response_obj, start_time, end_time):
        print(_line(kwargs, "failed"), file=sys.stderr, flush=True)


request_log = RequestLog()
