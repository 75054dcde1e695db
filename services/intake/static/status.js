// 목소리 민원 처리 현황: the receipt notice links /c/<접수번호>#<확인 코드>. The code stays in the
// fragment, which the browser never sends to a server (nor in a Referer): the page reads it and
// asks intake's status API with it in X-Case-Secret, then shows the case in Korean.
"use strict";
const STATUS_KO = {
  received: "접수", classified: "분류 완료", routed: "담당 부서 배정", acknowledged: "담당자 처리 중",
  in_progress: "처리 중", waiting_for_documents: "서류 보완 대기", resolved: "처리 완료", rated: "평가 완료",
  reopened: "재처리 중", closed: "종결",
};
const message = document.getElementById("message");
const fmt = (iso, withTime) => new Date(iso).toLocaleString("ko-KR", withTime
  ? { timeZone: "Asia/Seoul", dateStyle: "long", timeStyle: "short" }
  : { timeZone: "Asia/Seoul", dateStyle: "long" });
const set = (id, text) => { document.getElementById(id).textContent = text; };

async function show() {
  const ref = decodeURIComponent(location.pathname.split("/").pop() || "");
  const secret = location.hash.slice(1);
  if (!ref || !secret) {
    message.textContent = "링크가 올바르지 않습니다. 접수 안내 문자의 링크를 그대로 열어 주세요.";
    message.className = "error";
    return;
  }
  let r;
  try {
    r = await fetch(`/v1/voc/${encodeURIComponent(ref)}`, { headers: { "X-Case-Secret": secret } });
  } catch (e) {
    message.textContent = "네트워크 오류로 처리 현황을 불러오지 못했습니다. 잠시 후 다시 시도해 주세요.";
    message.className = "error";
    return;
  }
  if (!r.ok) {
    message.textContent = r.status === 404
      ? "접수 건을 찾을 수 없습니다. 링크가 올바른지 확인해 주세요."
      : `처리 현황을 불러오지 못했습니다 (HTTP ${r.status}). 잠시 후 다시 시도해 주세요.`;
    message.className = "error";
    return;
  }
  const c = await r.json();
  set("tracking_code", c.tracking_code);
  set("status", STATUS_KO[c.status] || c.status);
  set("received_at", fmt(c.received_at, true));
  set("expected_resolution", fmt(c.expected_resolution, false));
  set("text", c.text);
  const list = document.getElementById("timeline");
  const rated = c.timeline.some((t) => t.status === "rated");  // a case is rated once: no button after that
  for (const t of c.timeline) {
    const li = document.createElement("li");
    const at = document.createElement("time");
    at.dateTime = t.at;
    at.textContent = fmt(t.at, true);
    li.append(at, document.createTextNode(t.message));
    if (t.detail && t.detail.resolution) {  // the whole answer (a notice carries its start only)
      const answer = document.createElement("p");
      answer.className = "answer";
      answer.textContent = t.detail.resolution;
      li.append(answer);
    }
    if (!rated && t.detail && t.detail.link && /^https?:\/\//.test(t.detail.link)) {  // the survey page
      const rate = document.createElement("a");
      rate.className = "rate";
      rate.href = t.detail.link;
      rate.textContent = "만족도 평가하기";
      li.append(" ", rate);
    }
    list.append(li);
  }
  message.textContent = "";
  document.getElementById("case").hidden = false;
}

show();
