"""The JSON-RPC methods of the contract: health, acp.capabilities, xworkmate.routing.resolve
and the session methods. Notifications a method emits go through `notify`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path, PurePosixPath
from typing import Any, NamedTuple

from aiws_bridge import __version__
from aiws_bridge.agent import Notify
from aiws_bridge.gateway import GatewayControl
from aiws_bridge.recent import RecentLogs
from aiws_bridge.rpc import INVALID_PARAMS, METHOD_NOT_FOUND, RpcError
from aiws_bridge.sessions import Sessions
from aiws_bridge.settings import AGENT_LABELS, GATEWAY_LABELS, Settings
from aiws_bridge.threads import Thread
from aiws_bridge.workspaces import refuse_control, remote_fields, rewrite_prompt, thread_workspace


class Call(NamedTuple):
    """What a method gets beside its params: where its notifications go, and the name of
    the token the request came with."""

    notify: Notify
    caller: str


Method = Callable[[dict[str, Any], Call], Awaitable[dict[str, Any]]]


class Methods:
    def __init__(self, settings: Settings, sessions: Sessions, recent: RecentLogs | None = None):
        self.settings, self.sessions = settings, sessions
        self.recent = recent or RecentLogs()
        self.gateway = GatewayControl(settings)
        self.table: dict[str, Method] = {
            "health": self.health,
            "acp.capabilities": self.capabilities,
            "xworkmate.routing.resolve": self.resolve,
            "session.start": self.start,
            "session.message": self.message,
            "session.cancel": self.cancel,
            "session.close": self.close,
            "system.logs": self.logs,
            "xworkmate.gateway.connect": self.gateway.connect,
            "xworkmate.gateway.request": self.gateway.request,
            "xworkmate.gateway.disconnect": self.gateway.disconnect,
        }

    async def call(
        self, method: str, params: dict[str, Any], notify: Notify, caller: str = ""
    ) -> dict[str, Any]:
        """`caller`: the name of the token the request came with (its threads only)."""
        handler = self.table.get(method)
        if handler is None:
            raise RpcError(METHOD_NOT_FOUND, f"unknown method: {method}")
        return await handler(params, Call(notify, caller))

    async def health(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        return {"status": "ok", "version": __version__, "role": "acp-control-plane"}

    async def capabilities(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        agents, gateways = self.settings.agent_ids(), self.settings.gateway_ids()
        catalog = [
            {"providerId": a, "label": AGENT_LABELS.get(a, a), "targets": ["agent"],
             "category": "native"}
            for a in agents
        ]  # fmt: skip
        gateway_catalog = [
            {"providerId": g, "label": GATEWAY_LABELS.get(g, (g, ""))[0], "targets": ["gateway"],
             "providerDisplay": {"logoEmoji": GATEWAY_LABELS.get(g, (g, ""))[1]}}
            for g in gateways
        ]  # fmt: skip
        targets = (["agent"] if agents else []) + (["gateway"] if gateways else [])
        flags = {"single_agent": bool(agents), "multi_agent": False}
        return {
            "singleAgent": bool(agents), "multiAgent": False,
            "availableExecutionTargets": targets, "providerCatalog": catalog,
            "gatewayProviders": gateway_catalog,
            "providerProbeSummary": [
                {"providerId": p, "available": True, "status": "ready"}
                for p in [*agents, *gateways]
            ],
            "capabilities": {**flags, "providerCatalog": catalog,
                             "gatewayProviders": gateway_catalog,
                             "availableExecutionTargets": targets},
        }  # fmt: skip

    async def logs(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        """The app's diagnostics panel: the Bridge's recent log lines (no token or prompt is
        ever logged) and its gateway provider's state (`running` while its service answers;
        the app shows green for running, connected or ok)."""
        return {"bridgeStatus": "running", "gatewayStatus": await self.gateway.status(),
                "bridgeLogs": list(self.recent.lines)}  # fmt: skip

    async def resolve(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        return self._route(params)

    async def start(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        session_id, thread_id = _ids(params)
        routed = self._route(_with_provider(params))
        if routed["unavailable"]:
            return {"success": False, **routed}
        provider = routed["resolvedProviderId"] or routed["resolvedGatewayProviderId"]
        refused = self._unserved(provider, routed)
        if refused:
            return refused
        workspace = thread_workspace(
            str(self.settings.workspace_root), provider, call.caller, session_id,
            _text(params, "workingDirectory"), _text(params, "remoteWorkingDirectoryHint"),
        )  # fmt: skip
        thread = self.sessions.begin(
            call.caller, session_id, thread_id, provider, Path(workspace), routed["resolvedModel"]
        )
        return await self._turn(thread, params, routed, call)

    async def message(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        session_id, thread_id = _ids(params)
        thread = self.sessions.thread(call.caller, session_id, thread_id)
        # The thread's own provider, whatever this message's routing says.
        if thread.provider in self.settings.gateways:
            same = {"routingMode": "explicit", "explicitExecutionTarget": "gateway",
                    "preferredGatewayProviderId": thread.provider}  # fmt: skip
        else:
            same = {"routingMode": "explicit", "explicitExecutionTarget": "agent",
                    "explicitProviderId": thread.provider}  # fmt: skip
        given = params.get("routing")
        asked: dict[str, Any] = given if isinstance(given, dict) else {}
        model = asked.get("explicitModel") or thread.model
        routed = self._route({**params, "routing": {**same, "explicitModel": model}})
        refused = self._unserved(thread.provider, routed)
        if refused:
            return refused
        thread.model = routed["resolvedModel"]
        return await self._turn(thread, params, routed, call)

    def _unserved(self, provider: str, routed: dict[str, Any]) -> dict[str, Any] | None:
        """An unavailable result when the thread asks for a model its agent is not served."""
        agent = self.settings.provider(provider)
        model = routed["resolvedModel"]
        if not model or agent is None or not agent.models or model in agent.models:
            return None
        served = ", ".join(agent.models)
        return {
            "success": False, **routed, "resolvedModel": "", "status": "unavailable",
            "unavailable": True, "unavailableCode": "MODEL_UNAVAILABLE",
            "unavailableMessage": f"model {model} is not served to {provider}; served: {served}",
        }  # fmt: skip

    def _route(self, params: dict[str, Any]) -> dict[str, Any]:
        return resolve_routing(params, self.settings.agent_ids(), self.settings.gateway_ids())

    async def _turn(self, thread: Thread, params: dict[str, Any], routed: dict[str, Any],
                    call: Call) -> dict[str, Any]:  # fmt: skip
        prompt = params.get("taskPrompt") or params.get("message") or ""
        if not isinstance(prompt, str) or not prompt.strip():
            raise RpcError(INVALID_PARAMS, "taskPrompt is required")
        workspace = PurePosixPath(thread.workspace)
        prompt = rewrite_prompt(
            prompt, workspace, _text(params, "workingDirectory"),
            _text(params, "remoteWorkingDirectoryHint"),
        )  # fmt: skip
        where = remote_fields(workspace)
        outcome = await self.sessions.turn(thread, prompt, call.notify, params, where)
        # "mode" stays "single-agent": a gateway session is one ACP agent as well (the app
        # reads the target from resolvedExecutionTarget).
        resolved = {k: v for k, v in routed.items() if k.startswith("resolved")}
        # The model that answered as the agent says it (its ACP `model` option); "" where the
        # agent does not say, never merely the one asked for.
        resolved["resolvedModel"] = outcome.pop("model", "")
        return {
            **outcome, **resolved, **where, "provider": thread.provider, "mode": "single-agent",
            "sessionId": thread.session_id, "threadId": thread.thread_id,
        }  # fmt: skip

    async def cancel(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        session_id, _ = _ids(params)
        await self.sessions.cancel(call.caller, session_id)
        return {"accepted": True}

    async def close(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        session_id, _ = _ids(params)
        return {"accepted": True, "closed": await self.sessions.close(call.caller, session_id)}


def _ids(params: dict[str, Any]) -> tuple[str, str]:
    session_id = params.get("sessionId") or params.get("threadId")
    if not isinstance(session_id, str) or not session_id:
        raise RpcError(INVALID_PARAMS, "sessionId is required")
    thread_id = params.get("threadId")
    thread_id = thread_id if isinstance(thread_id, str) and thread_id else session_id
    for field, value in (("sessionId", session_id), ("threadId", thread_id)):
        refuse_control(field, value)
    return session_id, thread_id


def _text(params: dict[str, Any], name: str) -> str | None:
    value = params.get(name)
    return value if isinstance(value, str) and value else None


def _with_provider(params: dict[str, Any]) -> dict[str, Any]:
    """A session.start naming only `provider` (no routing) asks for that agent."""
    if params.get("routing") or params.get("executionTarget") or not params.get("provider"):
        return params
    return {**params, "routing": {"routingMode": "explicit", "explicitExecutionTarget": "agent",
                                  "explicitProviderId": params["provider"]}}  # fmt: skip


def resolve_routing(
    params: dict[str, Any], agents: list[str], gateways: list[str] | None = None
) -> dict[str, Any]:
    """The contract's routing rules, for the agents and gateway providers this Bridge has."""
    gateways = gateways or []
    given = params.get("routing")
    routing: dict[str, Any] = given if isinstance(given, dict) else {}
    target_asked = params.get("executionTarget") or params.get("requestedExecutionTarget")
    gateway_asked = params.get("gatewayProviderId") or params.get("gatewayProvider")
    if not routing and not target_asked and not gateway_asked:
        raise RpcError(INVALID_PARAMS, "ROUTING_REQUIRED: give routing or executionTarget")
    explicit = routing.get("routingMode") == "explicit" or bool(target_asked)
    asked = routing.get("explicitExecutionTarget") or target_asked or ""
    if explicit:
        target = {"gateway": "gateway", "multiAgent": "multi-agent", "multi-agent": "multi-agent"}
        resolved = target.get(asked, "single-agent")
    else:
        resolved = "single-agent" if agents or not gateways else "gateway"
    provider = routing.get("explicitProviderId") or ""
    out: dict[str, Any] = {
        "resolvedExecutionTarget": resolved, "resolvedProviderId": "",
        "resolvedGatewayProviderId": "",
        "resolvedModel": routing.get("explicitModel") or "",
        "resolvedSkills": list(routing.get("explicitSkills") or []),
        "skillResolutionSource": "explicit" if routing.get("explicitSkills") else "none",
        "needsSkillInstall": False, "skillInstallRequestId": "",
        "status": "available", "unavailable": False, "unavailableCode": "",
        "unavailableMessage": "",
    }  # fmt: skip
    if resolved == "single-agent":
        if provider and provider not in agents:
            return _unavailable(out, f"provider {provider} is not installed on this Bridge")
        if not agents:
            return _unavailable(out, "no agent is installed on this Bridge")
        out["resolvedProviderId"] = provider or agents[0]
        return out
    if resolved == "gateway":
        wanted = (
            routing.get("preferredGatewayProviderId") or gateway_asked
            or (routing.get("explicitProviderId") if asked == "gateway" else "")
        )  # fmt: skip
        out["resolvedGatewayProviderId"] = wanted or (gateways[0] if gateways else "openclaw")
        if out["resolvedGatewayProviderId"] in gateways:
            return out
        return _unavailable(
            out, f"gateway {out['resolvedGatewayProviderId']} is not installed on this Bridge"
        )
    return _unavailable(out, f"the {resolved} target is not available on this Bridge")


def _unavailable(out: dict[str, Any], message: str) -> dict[str, Any]:
    return {**out, "status": "unavailable", "unavailable": True,
            "unavailableCode": "PROVIDER_UNAVAILABLE", "unavailableMessage": message}  # fmt: skip
