"""The three legacy services' replies, written in Python from PROTOCOLS.md section 1 alone, for golden tests.

Reads {"service", "mode", "requests": [raw request text]} on stdin and prints one reply per request, each the
text the service would send (Python's own json.dumps), one per line. `legacy.py serve SERVICE ENDPOINT` serves it
on a ZeroMQ REP socket instead (Debian's python3 with python3-zmq), its times local to the process's TZ as the
agent's are. It shares nothing with memshift: the point is that Python's json, slicing, len() and float spelling decide the bytes, not our reading of them.
"""
import datetime
import json
import re
import sys
import time
import uuid


class SessionMemory:
    """SessionMemoryAgent, PROTOCOLS.md 1.1."""

    def __init__(self):
        self.sessions = {}

    def handle(self, req):
        action, rid = req.get("action"), req.get("request_id")
        sid = req.get("session_id")
        if action == "health_check":
            return {"status": "ok"}
        if action == "create_session":
            sid = sid or str(uuid.uuid4())
            old = self.sessions.get(sid, {}).get("interactions", [])
            self.sessions[sid] = {"user_id": req.get("user_id", "default"), "metadata": req.get("metadata", {}), "interactions": old}
            return {"status": "success", "session_id": sid, "request_id": rid}
        if action == "add_interaction":
            role, content = req.get("role"), req.get("content")
            if not sid or not role or not content:
                return {"status": "error", "message": "Missing required parameters", "request_id": rid}
            if sid not in self.sessions:
                return {"status": "error", "request_id": rid}
            self.sessions[sid]["interactions"].append(
                {"role": role, "content": content, "timestamp": datetime.datetime.now().isoformat(), "metadata": req.get("metadata", {})}
            )
            return {"status": "success", "request_id": rid}
        if action == "get_context":
            if not sid:
                return {"status": "error", "message": "Missing session_id", "request_id": rid}
            budget, used, kept = req.get("max_tokens", 2000), 0, []
            for i in reversed(self.sessions.get(sid, {}).get("interactions", [])):
                cost = len(i["content"]) // 4
                if used + cost > budget:
                    break
                used += cost
                kept.insert(0, {"role": i["role"], "content": i["content"], "timestamp": i["timestamp"]})
            return {"status": "success", "context": kept, "request_id": rid}
        if action in ("clear_session", "delete_session"):
            if not sid:
                return {"status": "error", "message": "Missing session_id", "request_id": rid}
            if action == "delete_session":
                self.sessions.pop(sid, None)
            elif sid in self.sessions:
                self.sessions[sid]["interactions"] = []
            return {"status": "success", "request_id": rid}
        return {"status": "error", "message": "Unknown action: %s" % action, "request_id": rid}


DOMAINS = [("database|sql|sqlite", "database operations"), ("web|http|flask|api|route", "web functionality"), ("concurrency|thread|async", "concurrency features")]


def summarize(interactions, previous):
    """The summary recompute over the newest interactions (newest first)."""
    summary = {"last_updated": time.time()}
    codes = [i["content"] for i in interactions if i["type"] == "code"]
    if codes:
        joined = "\n\n".join(codes)
        text = "Code Summary:\nTotal snippets: %d\nTotal lines: %d\n" % (len(codes), len(joined.split("\n")))
        low = joined.lower()
        if "database" in low:
            text += "\nDatabase Operations:\n- SQL queries and database interactions present\n"
        if "web" in low or "http" in low:
            text += "\nWeb Functionality:\n- HTTP endpoints and web routes present\n"
        if "concurrency" in low or "thread" in low:
            text += "\nConcurrency Features:\n- Threading and async operations present\n"
        searched = (joined + "\n\n" + text).lower()
        found = [name for pattern, name in DOMAINS if re.search(pattern, searched)]
        text += "\nDETECTED DOMAINS: %s\n" % ", ".join(found) if found else "\nNo specific domains detected\n"
        summary["code_context"] = text
    queries = [i["content"] for i in interactions if i["type"] == "user_query"]
    responses = [i["content"] for i in interactions if i["type"] == "system_response"]
    if queries or responses:
        text = "Conversation Summary:\nTotal queries: %d\nTotal responses: %d\n" % (len(queries), len(responses))
        if queries:
            text += "\nRecent Queries:\n" + "".join("- " + q[:100] + "...\n" for q in queries[:3])
        summary["conversation_summary"] = text
    summary["errors_encountered"] = [
        i["content"][:200] for i in interactions if i["type"] == "error" and ("error" in i["content"].lower() or "exception" in i["content"].lower())
    ]
    summary["key_decisions"] = previous.get("key_decisions", []) if previous else []
    return summary


def cut(summary, max_tokens):
    """get_context's reading of a stored summary: its texts cut in place to the budget; None where Python raises."""
    if max_tokens is None:
        max_tokens = 2000
    try:
        for key in ("code_context", "conversation_summary"):
            if key in summary:
                t = (max_tokens // 2) * 4
                if len(summary[key]) > t:
                    summary[key] = summary[key][:t] + "..."
    except Exception:
        return None
    return summary


class ContextualMemory:
    """ContextualMemoryAgent, PROTOCOLS.md 1.2 (revised): stored snapshots, cut in place by get_context."""

    def __init__(self, deployed):
        self.sessions, self.summaries, self.deployed = {}, {}, deployed

    def handle(self, req):
        result = self.dispatch(req)
        if self.deployed and not isinstance(result, dict):
            # The deployed loop calls result.get("status") before sending it.
            return {"status": "error", "message": "'%s' object has no attribute 'get'" % type(result).__name__}
        return result

    def dispatch(self, req):
        action, sid = req.get("action"), req.get("session_id")
        if action == "add_interaction":
            interaction = {"timestamp": time.time(), "type": req["type"], "content": req["content"]}
            if req.get("metadata"):
                interaction["metadata"] = req["metadata"]
            history = self.sessions.setdefault(sid, [])
            history.insert(0, interaction)
            if len(history) > 50:
                self.summaries[sid] = summarize(history, self.summaries.get(sid))
                del history[50:]
            return True
        if action == "record_decision":
            summary = self.summaries.setdefault(sid, {"key_decisions": []})
            summary["key_decisions"].append({"timestamp": time.time(), "decision": req["decision"]})
            return True
        if action == "get_context":
            summary = self.summaries.get(sid)
            return None if summary is None else cut(summary, req.get("max_tokens"))
        return {"status": "error", "message": "Unknown action: %s" % action}


class JarvisMemory:
    """JarvisMemoryAgent, PROTOCOLS.md 1.3."""

    def __init__(self):
        self.store = {}

    def handle(self, req):
        action, user = req.get("action"), req.get("user_id", "default")
        if action == "add_memory":
            self.store.setdefault(user, []).append({"timestamp": time.time(), "memory": req.get("memory")})
            return {"status": "ok"}
        if action == "get_memories":
            return {"status": "ok", "memories": self.store.get(user, [])}
        if action == "clear_memories":
            self.store[user] = []
            return {"status": "ok"}
        return {"status": "error", "reason": "Unknown action"}


def make(service, mode="faithful"):
    return {
        "session-memory": SessionMemory,
        "contextual-memory": lambda: ContextualMemory(mode == "as-deployed"),
        "jarvis-memory": JarvisMemory,
    }[service]()


def serve(service, endpoint):
    import zmq

    sock = zmq.Context().socket(zmq.REP)
    # The agents bind IPv4 only (pyzmq's default); a test that wants the agent on an IPv6 address asks for it.
    sock.ipv6 = endpoint.startswith("tcp://[")
    sock.bind(endpoint)
    while True:
        raw = sock.recv()
        try:
            reply = service.handle(json.loads(raw))
        except Exception as e:
            reply = {"status": "error", "message": str(e)}
        sock.send_string(json.dumps(reply))


def main():
    if sys.argv[1:2] == ["serve"]:
        return serve(make(sys.argv[2]), sys.argv[3])
    job = json.loads(sys.stdin.read())
    service = make(job["service"], job.get("mode"))
    for raw in job["requests"]:
        print(json.dumps(service.handle(json.loads(raw))))


if __name__ == "__main__":
    main()
