"""Drives a running `tokctl serve` with the official OpenAI SDK's Responses API
(`client.responses.create` and `client.responses.stream`).

Usage: python3 scripts/sdk_responses.py http://127.0.0.1:8080 tok_KEY
The gateway must route model `chat-up` to an OpenAI-compatible provider
without the Responses API and `messages-up` to an Anthropic one (both the
test upstream of tests/it/gateway/api_upstream.rs, which refuses what the
real APIs refuse and answers requests offering tools with a call of
`get_weather`), and `mock-resp` to the mock provider (which speaks the
Responses API itself: pass-through). For each model: a plain answer, a
streamed one, a function call (plain and streamed) and the second turn with
the function's output; then a stored response is asked for (404). Exits
non-zero on the first failure.
"""
import json
import sys

import openai

base, key = sys.argv[1], sys.argv[2]
oa = openai.OpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0)

SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
TOOLS = [{"type": "function", "name": "get_weather", "description": "Weather in a city", "parameters": SCHEMA}]
# The mock calls a tool the user's text names.
ASK = {"chat-up": "What is the weather in Paris?", "messages-up": "What is the weather in Paris?",
       "mock-resp": "Use get_weather for Paris"}
# The id each upstream gives its call (kept through translation), and the arguments.
CALL_ID = {"chat-up": "call_up_1", "messages-up": "toolu_up_1", "mock-resp": None}
ARGS = {"chat-up": {"city": "Paris"}, "messages-up": {"city": "Paris"}, "mock-resp": {"city": "mock"}}


def calls_of(response):
    return [o for o in response.output if o.type == "function_call"]


def check_call(model, response):
    calls = calls_of(response)
    assert response.status == "completed" and len(calls) == 1, (model, response)
    c = calls[0]
    assert c.name == "get_weather" and json.loads(c.arguments) == ARGS[model], c
    if CALL_ID[model]:
        assert c.call_id == CALL_ID[model], c
    return c


def run(model):
    r = oa.responses.create(model=model, input="hi", instructions="Be brief.")
    assert r.status == "completed" and r.output_text, r
    assert r.usage.input_tokens > 0 and r.usage.output_tokens > 0, r.usage
    assert r.store is False, r

    with oa.responses.stream(model=model, input="hi") as s:
        deltas = "".join(e.delta for e in s if e.type == "response.output_text.delta")
        final = s.get_final_response()
    assert deltas and final.output_text == deltas, (model, deltas, final)
    assert final.usage.output_tokens > 0, final.usage

    r = oa.responses.create(model=model, input=ASK[model], tools=TOOLS)
    call = check_call(model, r)

    kinds = []
    with oa.responses.stream(model=model, input=ASK[model], tools=TOOLS) as s:
        for e in s:
            kinds.append(e.type)
        final = s.get_final_response()
    check_call(model, final)
    assert "response.function_call_arguments.delta" in kinds, kinds
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed", kinds

    turn2 = [
        {"role": "user", "content": ASK[model]},
        {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments},
        {"type": "function_call_output", "call_id": call.call_id, "output": "sunny, 21 C"},
    ]
    r = oa.responses.create(model=model, input=turn2, tools=TOOLS)
    assert r.status == "completed" and r.output_text and not calls_of(r), r


for model in ["chat-up", "messages-up", "mock-resp"]:
    try:
        run(model)
    except Exception as e:
        print(f"responses -> {model}: {type(e).__name__}: {e}", file=sys.stderr)
        raise

try:
    oa.responses.retrieve("resp_123")
    raise AssertionError("a stored response was found")
except openai.NotFoundError as e:
    assert e.code == "response_not_stored" and "keeps no responses" in str(e), e
print("sdk responses: openai", openai.__version__, "OK")
