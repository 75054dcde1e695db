// 목소리 만족도 조사: posts the answer to /v1/feedback and says what happened, in Korean.
"use strict";
const form = document.getElementById("survey");
const result = document.getElementById("result");
const MESSAGES = {
  201: "소중한 의견 감사합니다. 응답이 접수되었습니다.",
  200: "이미 같은 내용으로 응답하셨습니다. 감사합니다.",
  409: "이 건에는 이미 다른 내용의 응답이 접수되어 있습니다.",
  400: "설문 링크가 만료되었거나 올바르지 않습니다.",
  404: "설문을 찾을 수 없습니다. 잠시 후 다시 시도해 주세요.",
};

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const value = (name) => {
    const checked = form.querySelector(`input[name="${name}"]:checked`);
    return checked ? Number(checked.value) : null;
  };
  const body = { token: form.dataset.token, csat: value("csat"), nps: value("nps"), ces: value("ces") };
  const comment = document.getElementById("comment").value.trim();
  if (comment) body.comment = comment;
  if (body.csat === null && body.nps === null && body.ces === null) {
    result.textContent = "하나 이상의 항목에 응답해 주세요.";
    result.className = "error";
    return;
  }
  try {
    const r = await fetch("/v1/feedback", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    result.textContent = MESSAGES[r.status] || `응답을 보내지 못했습니다 (HTTP ${r.status}). 다시 시도해 주세요.`;
    result.className = r.ok ? "done" : "error";
    if (r.ok) form.querySelector("button").disabled = true;
  } catch (e) {
    result.textContent = "네트워크 오류로 응답을 보내지 못했습니다. 다시 시도해 주세요.";
    result.className = "error";
  }
});
