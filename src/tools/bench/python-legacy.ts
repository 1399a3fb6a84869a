/**
 * SessionMemoryAgent's write path in Python, for the write-path bench's baseline: pyzmq REP, the agent's SQLite
 * tables, `conn.commit()` after each write before the reply (PROTOCOLS.md 1.1; the origin agent commits every
 * change). A write's cost on this machine is then the service's own, which the simulators (JavaScript, SQLite
 * through WebAssembly with fsync where Python's sqlite3 uses fdatasync) do not reproduce.
 */
import { execFileSync } from 'node:child_process';
import { startProgram, type Child } from './processes.js';

/** Debian's python3, where apt's python3-zmq lives (a pyenv python3 earlier on PATH would lack it). */
const PYTHON = '/usr/bin/python3';

const PROGRAM = String.raw`
import json, sqlite3, sys, uuid
from datetime import datetime
import zmq

db = sqlite3.connect(sys.argv[2])
db.executescript("""
CREATE TABLE IF NOT EXISTS sessions (session_id TEXT PRIMARY KEY, user_id TEXT, created_at TEXT, last_active TEXT, metadata TEXT);
CREATE TABLE IF NOT EXISTS interactions (id INTEGER PRIMARY KEY AUTOINCREMENT, session_id TEXT, timestamp TEXT, role TEXT,
  content TEXT, metadata TEXT, FOREIGN KEY (session_id) REFERENCES sessions (session_id));
""")
known = set()
sock = zmq.Context().socket(zmq.REP)
sock.bind(sys.argv[1])

def handle(req):
    rid = req.get("request_id")
    action = req.get("action")
    if action == "health_check":
        return {"status": "ok"}
    if action == "create_session":
        sid = req.get("session_id") or str(uuid.uuid4())
        now = datetime.now().isoformat()
        db.execute("INSERT OR REPLACE INTO sessions VALUES (?, ?, ?, ?, ?)",
                   (sid, req.get("user_id", "default"), now, now, json.dumps(req.get("metadata") or {})))
        db.commit()
        known.add(sid)
        return {"status": "success", "session_id": sid, "request_id": rid}
    if action == "add_interaction":
        sid, role, content = req.get("session_id"), req.get("role"), req.get("content")
        if not sid or not role or not content:
            return {"status": "error", "message": "Missing required parameters", "request_id": rid}
        if sid not in known:
            return {"status": "error", "request_id": rid}
        db.execute("INSERT INTO interactions (session_id, timestamp, role, content, metadata) VALUES (?, ?, ?, ?, ?)",
                   (sid, datetime.now().isoformat(), role, content, json.dumps(req.get("metadata") or {})))
        db.commit()
        return {"status": "success", "request_id": rid}
    return {"status": "error", "message": "Unknown action: %s" % action, "request_id": rid}

while True:
    raw = sock.recv()
    try:
        reply = handle(json.loads(raw))
    except Exception as e:
        reply = {"status": "error", "message": str(e)}
    sock.send_string(json.dumps(reply))
`;

/** Why the Python baseline cannot run here, or undefined when it can. */
export function pythonLegacyMissing(): string | undefined {
  try {
    execFileSync(PYTHON, ['-c', 'import zmq, sqlite3'], { stdio: 'ignore' });
    return undefined;
  } catch {
    return `${PYTHON} with pyzmq is missing (as root: apt-get install python3-zmq)`;
  }
}

/** The Python service on `endpoint`, its SQLite file at `dbPath`. */
export function startPythonSessionMemory(endpoint: string, dbPath: string): Child {
  return startProgram(PYTHON, ['-c', PROGRAM, endpoint, dbPath]);
}
