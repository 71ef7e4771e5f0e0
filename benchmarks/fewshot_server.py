"""Serve a base (not instruction-tuned) GGUF model, such as Gemma 3 270M, behind an
OpenAI-compatible chat endpoint, so that `tinyqa run` can measure it like any model.

A base model does not follow a chat template: asked through one it repeats or continues the
question (measured on Gemma 3 270M: 0 of 12 core_en items with the Gemma turn format; with
llama.cpp's alpaca format 1 of 42 in core_de and core_ar, most answers an echoed
"### Instruction:"). What a base model does is continue a document, so each request becomes a
short few-shot document in the question's language: the qa-v1 instruction, two solved
questions that are in no pack (`--shots a` or `b`), then the question, and the answer is read up to the end of its
line (greedy decoding, the request's seed and token budget). The question's language is read
from the qa-v1 system instruction the request carries (English otherwise).

    .venv/bin/python benchmarks/fewshot_server.py --port 18732 &      # Gemma 3 270M by default
    tinyqa run --model openai/gemma-3-270m --api-base http://127.0.0.1:18732/v1 --packs core_en

Used for the difficulty measurement of packs/README.md ("Difficulty"). Loopback only; one
request at a time; stop it with Ctrl-C or SIGTERM.
"""
from __future__ import annotations

import argparse
import json
import os
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tinyqa.suites.templates import load_template

# Per language: the words for question and answer, and two sets of two solved questions that
# no shipped pack asks (a: days in a week, the colour of fresh snow; b: the wheels of a
# bicycle, the colour of grass). Two sets measure how much an answer owes to the prompt.
WORDS = {"en": ("Question", "Answer"), "fr": ("Question", "Réponse"), "de": ("Frage", "Antwort"),
         "es": ("Pregunta", "Respuesta"), "pt": ("Pergunta", "Resposta"), "ru": ("Вопрос", "Ответ"),
         "tr": ("Soru", "Cevap"), "ar": ("سؤال", "جواب"), "zh": ("问题", "答案"), "ja": ("質問", "答え"),
         "ko": ("질문", "답")}
SHOTS: dict[str, dict[str, list[tuple[str, str]]]] = {
    "a": {
        "en": [("How many days are there in a week?", "7"), ("What colour is fresh snow?", "White")],
        "fr": [("Combien de jours y a-t-il dans une semaine ?", "7"), ("De quelle couleur est la neige fraîche ?", "Blanche")],
        "de": [("Wie viele Tage hat eine Woche?", "7"), ("Welche Farbe hat frischer Schnee?", "Weiß")],
        "es": [("¿Cuántos días tiene una semana?", "7"), ("¿De qué color es la nieve recién caída?", "Blanca")],
        "pt": [("Quantos dias tem uma semana?", "7"), ("De que cor é a neve fresca?", "Branca")],
        "ru": [("Сколько дней в неделе?", "7"), ("Какого цвета свежий снег?", "Белого")],
        "tr": [("Bir haftada kaç gün vardır?", "7"), ("Taze kar ne renktir?", "Beyaz")],
        "ar": [("كم يومًا في الأسبوع؟", "7"), ("ما لون الثلج الطازج؟", "أبيض")],
        "zh": [("一个星期有几天？", "7天"), ("新雪是什么颜色的？", "白色")],
        "ja": [("一週間は何日ですか？", "7日"), ("新雪は何色ですか？", "白")],
        "ko": [("일주일은 며칠입니까?", "7일"), ("갓 내린 눈은 무슨 색입니까?", "흰색")],
    },
    "b": {
        "en": [("How many wheels does a bicycle have?", "2"), ("What colour is grass?", "Green")],
        "fr": [("Combien de roues a un vélo ?", "2"), ("De quelle couleur est l'herbe ?", "Verte")],
        "de": [("Wie viele Räder hat ein Fahrrad?", "2"), ("Welche Farbe hat Gras?", "Grün")],
        "es": [("¿Cuántas ruedas tiene una bicicleta?", "2"), ("¿De qué color es la hierba?", "Verde")],
        "pt": [("Quantas rodas tem uma bicicleta?", "2"), ("De que cor é a relva?", "Verde")],
        "ru": [("Сколько колёс у велосипеда?", "2"), ("Какого цвета трава?", "Зелёного")],
        "tr": [("Bir bisikletin kaç tekerleği vardır?", "2"), ("Çimen ne renktir?", "Yeşil")],
        "ar": [("كم عجلة للدراجة الهوائية؟", "2"), ("ما لون العشب؟", "أخضر")],
        "zh": [("自行车有几个轮子？", "2个"), ("草是什么颜色的？", "绿色")],
        "ja": [("自転車の車輪はいくつありますか？", "2つ"), ("草は何色ですか？", "緑")],
        "ko": [("자전거의 바퀴는 몇 개입니까?", "2개"), ("풀은 무슨 색입니까?", "초록색")],
    },
}
SEP = {"zh": "：", "ja": "："}


def document(messages: list[dict], by_system: dict[str, str], shots: str = "a") -> str:
    """The few-shot document for one chat request (its system and last user message)."""
    system = next((m["content"] for m in messages if m["role"] == "system"), "")
    question = [m["content"] for m in messages if m["role"] == "user"][-1]
    lang = by_system.get(system, "en")
    (q, a), shots = WORDS[lang], SHOTS[shots][lang]
    sep = SEP.get(lang, ": ")
    parts = [system] if system else []
    parts += [f"{q}{sep}{sq}\n{a}{sep}{sa}" for sq, sa in shots]
    parts.append(f"{q}{sep}{question}\n{a}{sep}".rstrip())
    return "\n\n".join(parts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gguf", type=Path, help="the model file (default: Gemma 3 270M, assembled from its wheels)")
    ap.add_argument("--name", default="gemma-3-270m", help="the model name the server answers to")
    ap.add_argument("--port", type=int, default=18732)
    ap.add_argument("--shots", choices=sorted(SHOTS), default="a", help="which solved questions the prompt shows")
    ap.add_argument("--threads", type=int, default=max(1, len(os.sched_getaffinity(0)) - 1))
    args = ap.parse_args()
    import llama_cpp

    if args.gguf is None:
        from tinyqa.suites.tokenizers import gemma3_gguf

        args.gguf = gemma3_gguf()
    llm = llama_cpp.Llama(str(args.gguf), n_ctx=1024, n_threads=args.threads, seed=0, verbose=False)
    tpl = load_template("qa-v1")
    by_system = {text: lang for lang, text in tpl.system_by_lang.items()} | {tpl.system: "en"}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def _send(self, code: int, body: dict) -> None:
            data = json.dumps(body, ensure_ascii=False).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):  # noqa: N802
            if self.path.rstrip("/").endswith("/models"):
                self._send(200, {"object": "list", "data": [{"id": args.name, "object": "model", "owned_by": "local"}]})
            else:
                self._send(404, {"error": {"message": "not found"}})

        def do_POST(self):  # noqa: N802
            if not self.path.rstrip("/").endswith("/chat/completions"):
                self._send(404, {"error": {"message": "not found"}})
                return
            req = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            prompt = document(req["messages"], by_system, args.shots)
            with lock:
                out = llm.create_completion(prompt, max_tokens=req.get("max_tokens") or 48, temperature=0.0,
                                            seed=req.get("seed"), stop=["\n"])
            usage = out["usage"]
            self._send(200, {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
                             "model": args.name, "usage": usage,
                             "choices": [{"index": 0, "finish_reason": out["choices"][0]["finish_reason"],
                                          "message": {"role": "assistant", "content": out["choices"][0]["text"].strip()}}]})

        def log_message(self, *a):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(f"serving {args.gguf.name} as {args.name} on http://127.0.0.1:{args.port}/v1", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
