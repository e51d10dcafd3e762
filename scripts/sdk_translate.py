"""Drives a running `tokctl serve` with the official OpenAI and Anthropic SDKs
in all four combinations of client API and provider API.

Usage: python3 scripts/sdk_translate.py http://127.0.0.1:8080 tok_KEY
The gateway must route model `chat-up` to an OpenAI-compatible provider and
`messages-up` to an Anthropic one, both the test upstream of
tests/it/gateway/api_upstream.rs (which refuses what the real APIs refuse and
answers requests offering tools with a call of `get_weather`). Each
combination runs a plain answer, a streamed one, a tool call (plain and
streamed) and the second turn with the tool's result. Exits non-zero on the
first failure.
"""
import json
import sys

import anthropic
import openai

base, key = sys.argv[1], sys.argv[2]
oa = openai.OpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0)
an = anthropic.Anthropic(base_url=base, api_key=key, max_retries=0)

SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
OA_TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather in a city", "parameters": SCHEMA}}]
AN_TOOLS = [{"name": "get_weather", "description": "Weather in a city", "input_schema": SCHEMA}]
ASK = [{"role": "user", "content": "What is the weather in Paris?"}]
HI = [{"role": "user", "content": "hi"}]
# The id each upstream gives its tool call (kept through translation).
CALL_ID = {"chat-up": "call_up_1", "messages-up": "toolu_up_1"}


def openai_client(model):
    r = oa.chat.completions.create(model=model, messages=HI)
    assert r.choices[0].message.content and r.usage.prompt_tokens > 0, r

    text, usage = "", None
    for ch in oa.chat.completions.create(model=model, messages=HI, stream=True, stream_options={"include_usage": True}):
        if ch.choices:
            text += ch.choices[0].delta.content or ""
        if ch.usage:
            usage = ch.usage
    assert text and usage and usage.completion_tokens > 0, (model, text, usage)

    r = oa.chat.completions.create(model=model, messages=ASK, tools=OA_TOOLS)
    call = r.choices[0].message.tool_calls[0]
    assert r.choices[0].finish_reason == "tool_calls", r
    assert call.id == CALL_ID[model] and call.function.name == "get_weather", call
    assert json.loads(call.function.arguments) == {"city": "Paris"}, call

    calls, finish = {}, None
    for ch in oa.chat.completions.create(model=model, messages=ASK, tools=OA_TOOLS, stream=True):
        for c in ch.choices:
            finish = c.finish_reason or finish
            for tc in c.delta.tool_calls or []:
                d = calls.setdefault(tc.index, {"id": None, "name": "", "args": ""})
                d["id"] = tc.id or d["id"]
                if tc.function:
                    d["name"] += tc.function.name or ""
                    d["args"] += tc.function.arguments or ""
    assert finish == "tool_calls" and list(calls) == [0], (model, finish, calls)
    assert calls[0]["id"] == CALL_ID[model] and calls[0]["name"] == "get_weather", calls
    assert json.loads(calls[0]["args"]) == {"city": "Paris"}, calls

    turn2 = ASK + [
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": call.id, "type": "function", "function": {"name": call.function.name, "arguments": call.function.arguments}}]},
        {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21 C"},
    ]
    r = oa.chat.completions.create(model=model, messages=turn2, tools=OA_TOOLS)
    assert r.choices[0].finish_reason == "stop" and r.choices[0].message.content, r


def anthropic_client(model):
    m = an.messages.create(model=model, max_tokens=50, messages=HI)
    assert m.content[0].text and m.usage.output_tokens > 0, m

    with an.messages.stream(model=model, max_tokens=50, messages=HI) as s:
        streamed = "".join(s.text_stream)
        final = s.get_final_message()
    assert streamed and final.usage.output_tokens > 0, (model, streamed, final)

    m = an.messages.create(model=model, max_tokens=100, messages=ASK, tools=AN_TOOLS)
    uses = [b for b in m.content if b.type == "tool_use"]
    assert m.stop_reason == "tool_use" and len(uses) == 1, m
    assert uses[0].id == CALL_ID[model] and uses[0].name == "get_weather" and uses[0].input == {"city": "Paris"}, m

    with an.messages.stream(model=model, max_tokens=100, messages=ASK, tools=AN_TOOLS) as s:
        final = s.get_final_message()
    uses2 = [b for b in final.content if b.type == "tool_use"]
    assert final.stop_reason == "tool_use" and len(uses2) == 1, final
    assert uses2[0].id == CALL_ID[model] and uses2[0].input == {"city": "Paris"}, final

    turn2 = ASK + [
        {"role": "assistant", "content": [{"type": "tool_use", "id": uses[0].id, "name": uses[0].name, "input": uses[0].input}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": uses[0].id, "content": "sunny, 21 C"}]},
    ]
    m = an.messages.create(model=model, max_tokens=100, messages=turn2, tools=AN_TOOLS)
    assert m.stop_reason == "end_turn" and m.content[0].text, m


def around_the_edges():
    """The token count (the Anthropic upstream's own; estimated, and marked
    so, for a model on an OpenAI provider) and the model list in Anthropic's
    shape."""
    c = an.messages.count_tokens(model="messages-up", messages=HI)
    assert c.input_tokens == 42, c
    raw = an.messages.with_raw_response.count_tokens(model="chat-up", messages=ASK, tools=AN_TOOLS)
    assert raw.headers.get("x-tokctl-estimated") == "true", raw.headers
    assert raw.parse().input_tokens > 0, raw.parse()
    ids = [m.id for m in an.models.list().data]
    assert "chat-up" in ids and "messages-up" in ids, ids


around_the_edges()
for client, model in [(openai_client, "chat-up"), (openai_client, "messages-up"),
                      (anthropic_client, "messages-up"), (anthropic_client, "chat-up")]:
    try:
        client(model)
    except Exception as e:
        print(f"{client.__name__} -> {model}: {type(e).__name__}: {e}", file=sys.stderr)
        raise
print("sdk translate: openai", openai.__version__, "and anthropic", anthropic.__version__, "OK")
