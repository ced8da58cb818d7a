// The page's only way to the server: the /v1 JSON API of `sean serve` (docs/serving.md).

export class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

const KEY_STORAGE = "sean-editor-api-key";

export class Api {
  constructor(base = "") {
    this.base = base;
    this.key = sessionStorage.getItem(KEY_STORAGE);
  }

  setKey(key) {
    this.key = key || null;
    if (this.key) sessionStorage.setItem(KEY_STORAGE, this.key);
    else sessionStorage.removeItem(KEY_STORAGE);
  }

  // -> the parsed JSON answer; any failure -> ApiError with the server's one-line message.
  async call(method, route, body) {
    const headers = {};
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (this.key) headers.Authorization = `Bearer ${this.key}`;
    let response;
    try {
      response = await fetch(this.base + route, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (exc) {
      throw new ApiError(`cannot reach the server (${exc.message}); is sean serve still running?`, 0);
    }
    let answer = null;
    try {
      answer = await response.json();
    } catch {
      // a proxy's HTML error page, or a cut-off answer
    }
    if (!response.ok) {
      const message = answer && typeof answer.error === "string" ? answer.error : `HTTP ${response.status}`;
      throw new ApiError(message, response.status);
    }
    if (answer === null) throw new ApiError(`${route} answered something that is not JSON`, response.status);
    return answer;
  }

  info() {
    return this.call("GET", "/v1/info");
  }

  samples() {
    return this.call("GET", "/v1/samples");
  }

  // label undefined: the server's segmenter labels the image (the answer's `label` is the map it used).
  encode(image, label) {
    return this.call("POST", "/v1/encode", label === undefined ? { image } : { image, label });
  }

  synthesize(body) {
    return this.call("POST", "/v1/synthesize", body);
  }
}

// Runs `task` after edits: debounced (but never held back more than maxWaitMs, so a long stroke
// still updates as it goes), at most one run at a time, and edits during a run start one more run as
// soon as it ends, which reads the state as it is then, so the latest edit always wins.
export class Updater {
  constructor(task, { delayMs, maxWaitMs, onBusy = () => {} }) {
    this.task = task;
    this.delayMs = delayMs;
    this.maxWaitMs = maxWaitMs;
    this.onBusy = onBusy;
    this.timer = null;
    this.since = 0; // when the pending timer was first set
    this.running = false;
    this.again = false;
  }

  get busy() {
    return this.running || this.timer !== null || this.again;
  }

  schedule(delayMs = this.delayMs) {
    const now = performance.now();
    if (this.timer === null) this.since = now;
    clearTimeout(this.timer);
    const wait = Math.max(0, Math.min(delayMs, this.since + this.maxWaitMs - now));
    this.timer = setTimeout(() => this.run(), wait);
    this.onBusy(true);
  }

  async run() {
    clearTimeout(this.timer);
    this.timer = null;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    this.onBusy(true);
    try {
      await this.task();
    } finally {
      this.running = false;
      // Edits made while the request was out wait no longer: the request's own time was their debounce.
      if (this.again || this.timer !== null) {
        this.again = false;
        this.run();
      } else {
        this.onBusy(false);
      }
    }
  }
}
