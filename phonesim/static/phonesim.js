// Zemi phone simulator: each handset dials the USSD service, reads its SMS and answers M-Pesa prompts.
// Talks only to /phones/api on this origin; no inline script (the page's CSP allows 'self' only).
"use strict";

const POLL_MS = 1000;

async function call(method, path, body) {
  const options = { method, headers: { "Accept": "application/json" } };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch("/phones/api/" + path, options);
  let data = {};
  try { data = await response.json(); } catch (_) { data = { error: "HTTP " + response.status }; }
  if (!response.ok && !data.error) { data.error = "HTTP " + response.status; }
  return data;
}

function text(node, value) { node.textContent = value; return node; }

function span(className, value) {
  const node = document.createElement("span");
  node.className = className;
  return text(node, value);
}

class Phone {
  constructor(label, number) {
    const template = document.getElementById("phone-template");
    this.root = template.content.firstElementChild.cloneNode(true);
    this.number = number;
    this.session = null;        // {session_id, service_code, text} while a USSD session is open
    this.smsShown = 0;
    this.promptId = null;       // the M-Pesa prompt on screen, not yet answered
    this.answered = new Set();  // prompts answered here (a poll already under way may still list one)
    this.root.dataset.number = number;
    text(this.find(".label"), label);
    text(this.find(".number"), number);
    this.wire();
    document.getElementById("phones").appendChild(this.root);
    this.poll();
  }

  find(selector) { return this.root.querySelector(selector); }

  wire() {
    this.find(".entry-form").addEventListener("submit", (event) => { event.preventDefault(); this.send(); });
    this.find(".hangup").addEventListener("click", () => this.hangUp());
    this.root.querySelectorAll(".key").forEach((key) => key.addEventListener("click", () => {
      this.find(".entry").value += key.dataset.key;
    }));
    this.find(".pin-ok").addEventListener("click", () => this.answer("pin"));
    this.find(".pin-cancel").addEventListener("click", () => this.answer("cancel"));
    this.find(".pb-pay").addEventListener("click", () => this.payBill());
    this.find(".set-scenario").addEventListener("click", () => this.setScenario());
  }

  async send() {
    const entry = this.find(".entry");
    const typed = entry.value.trim();
    entry.value = "";
    let answer;
    if (this.session === null) {
      answer = await call("POST", "dial", { phone: this.number, dialled: typed || document.body.dataset.serviceCode });
    } else {
      const sofar = this.session.text;
      answer = await call("POST", "reply", { phone: this.number, session_id: this.session.session_id,
        service_code: this.session.service_code, text: sofar === "" ? typed : sofar + "*" + typed });
    }
    this.show(answer);
  }

  show(answer) {
    const screen = this.find(".ussd");
    const notes = this.find(".notes");
    notes.replaceChildren();
    this.root.dataset.hops = String(Number(this.root.dataset.hops || "0") + 1);   // answers shown so far
    if (answer.error) {
      screen.className = "ussd error";
      text(screen, answer.error);
      this.session = null;
      return;
    }
    screen.className = answer.kind === "CON" ? "ussd con" : "ussd end";
    text(screen, answer.screen);
    this.session = answer.kind === "CON"
      ? { session_id: answer.session_id, service_code: answer.service_code, text: answer.text } : null;
    notes.append(span("kind", answer.kind + " · "),
      span(answer.too_long ? "length over" : "length", answer.length + "/" + answer.limit + " characters"),
      span(answer.not_gsm7.length ? "gsm odd" : "gsm",
        answer.not_gsm7.length ? " · not GSM-7: " + answer.not_gsm7.join(" ") : " · GSM-7"),
      span("timing " + answer.timing, " · " + answer.ms + " ms (AT waits " + answer.deadline_ms / 1000 +
        " s; aim < " + answer.aim_ms / 1000 + " s)"));
  }

  hangUp() {
    this.session = null;
    const screen = this.find(".ussd");
    screen.className = "ussd";
    text(screen, "Dial " + document.body.dataset.serviceCode);
    this.find(".notes").replaceChildren();
  }

  async poll() {
    try {
      const state = await call("GET", "phone/" + encodeURIComponent(this.number));
      this.showInbox(state.sms || []);
      if (!state.error) {     // the simulator answered: what it holds for this number is known
        this.showPrompt((state.prompts || []).find((p) => !this.answered.has(p.checkout_request_id)) || null);
      }
      this.showControls(state);
    } finally {
      window.setTimeout(() => this.poll(), POLL_MS);
    }
  }

  showInbox(messages) {
    if (messages.length === this.smsShown) { return; }
    const inbox = this.find(".inbox");
    messages.slice(this.smsShown).forEach((message) => {
      const item = document.createElement("li");
      const when = document.createElement("time");
      text(when, message.at);
      item.append(when, document.createTextNode(message.text));
      inbox.appendChild(item);
    });
    this.smsShown = messages.length;
    inbox.scrollTop = inbox.scrollHeight;
  }

  showPrompt(prompt) {
    const box = this.find(".prompt");
    if (prompt === null) {
      if (this.promptId !== null) {   // gone unanswered: the simulator timed it out
        text(this.find(".mpesa-result"), "No PIN in time: M-Pesa says DS timeout user cannot be reached (ResultCode 1037)");
      }
      box.hidden = true;
      this.promptId = null;
      return;
    }
    if (prompt.checkout_request_id !== this.promptId) {
      this.promptId = prompt.checkout_request_id;
      this.find(".pin").value = "";
      text(this.find(".mpesa-result"), "");
    }
    text(this.find(".prompt-text"), prompt.text);
    text(this.find(".prompt-account"), "Account " + (prompt.account || "") + " · PIN 1234 on every simulated phone");
    text(this.find(".countdown"), "Times out in " + prompt.expires_in + " s (M-Pesa then says 1037)");
    box.hidden = false;
  }

  showControls(state) {
    const business = this.find(".pb-business");
    if (state.paybill && business.value === "") { business.value = state.paybill; }
    const select = this.find(".scenario");
    if (state.scenarios && select.options.length === 0) {
      state.scenarios.forEach((name) => {
        const option = document.createElement("option");
        option.value = name;
        select.appendChild(text(option, name));
      });
      select.value = "success";
    }
  }

  async answer(action) {
    if (this.promptId === null) { return; }
    const answering = this.promptId;
    this.answered.add(answering);
    this.promptId = null;
    this.find(".prompt").hidden = true;
    const result = await call("POST", "answer", { phone: this.number, checkout_request_id: answering,
      action, pin: this.find(".pin").value });
    text(this.find(".mpesa-result"), result.error ? result.error
      : "M-Pesa: " + result.result_desc + " (ResultCode " + result.result_code + ")");
  }

  async payBill() {
    const result = await call("POST", "paybill", { phone: this.number, business: this.find(".pb-business").value,
      account: this.find(".pb-account").value, amount: this.find(".pb-amount").value, pin: this.find(".pb-pin").value });
    this.find(".pb-pin").value = "";
    text(this.find(".pb-result"), result.error ? result.error : "Paid: M-Pesa receipt " + result.TransID +
      (result.registered ? "" : " (no C2B URLs registered: run flask mpesa register-urls)"));
  }

  async setScenario() {
    const name = this.find(".scenario").value;
    const result = await call("POST", "scenario", { phone: this.number, scenario: name });
    text(this.find(".scenario-result"), result.error ? result.error : "Next M-Pesa answer: " + name);
  }
}

function start() {
  const main = document.getElementById("phones");
  main.dataset.defaults.split(",").forEach((pair) => {
    const [label, number] = pair.split("=");
    new Phone(label, number);
  });
  let extra = 0;
  document.getElementById("add-phone").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = document.getElementById("new-number");
    const number = input.value.trim();
    if (number === "") { return; }
    extra += 1;
    new Phone("Phone " + (2 + extra), number);
    input.value = "";
  });
}

document.addEventListener("DOMContentLoaded", start);
