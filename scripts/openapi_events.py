"""Writes the per-kind event schemas of the OpenAPI document (`TradeEvent`, ...,
`StatusEvent`) from the model's structs, and the `cold/archive` body that takes any of them.

    python3 scripts/openapi_events.py    # after changing marketprism-core/src/model/event.rs

Field types map to JSON Schema (decimals: strings or JSON integers, positive where the
storage API requires it); an unknown field type is an error, so a new type is mapped here.
"""
import json, os, re

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
src=open(os.path.join(ROOT, 'marketprism-core/src/model/event.rs')).read()
p=os.path.join(ROOT, 'marketprism-gateway/openapi.json')
d=json.load(open(p))
S=d['components']['schemas']
EX={"type":"string","pattern":"^[a-z0-9_-]{1,32}$","description":"Exchange name: `binance`, `okx`, `deribit` or a user's own (1–32 of `[a-z0-9_-]`)"}
SYM={"type":"string","pattern":"^[A-Z0-9]+-[A-Z0-9]+(-[A-Z0-9]+)*$","maxLength":64}
MKT={"type":"string","enum":["spot","perpetual","future","option","index"]}
def dec(kind):
    if kind=='pos':
        return {"oneOf":[{"type":"string","pattern":"^([1-9][0-9]{0,14}(\\.[0-9]{1,12})?|0\\.[0-9]{0,11}[1-9][0-9]{0,11})$"},{"type":"integer","minimum":1,"maximum":18446744073709551615}],"description":"Positive decimal as a string (or a JSON integer)"}
    if kind=='nn':
        return {"oneOf":[{"type":"string","pattern":"^[0-9]{1,15}(\\.[0-9]{1,12})?$"},{"type":"integer","minimum":0,"maximum":18446744073709551615}],"description":"Non-negative decimal as a string (or a JSON integer)"}
    return {"oneOf":[{"type":"string","pattern":"^-?[0-9]{1,15}(\\.[0-9]{1,12})?$"},{"type":"integer","minimum":-9223372036854775808,"maximum":9223372036854775807}],"description":"Decimal as a string (or a JSON integer)"}
POS={('Trade','price'),('Trade','size'),('Liquidation','price'),('Liquidation','size')}
NN_STRUCTS={'Bbo','Ticker'}
def level():
    return {"type":"object","properties":{"price":dec('pos'),"size":dec('nn')},"required":["price","size"]}
variants=re.findall(r'^    (\w+)\((\w+)\),', src[src.index('pub enum MarketEvent'):src.index('macro_rules!')], re.M)
def snake(n): return re.sub(r'(?<!^)([A-Z])', r'_\1', n).lower()
kinds=[]
for var, struct in variants:
    tag=snake(var)
    if struct=='Status':
        body=open(os.path.join(ROOT, 'marketprism-core/src/model/status.rs')).read()
        m=re.search(r'pub struct Status \{(.*?)\n\}', body, re.S)
    else:
        m=re.search(r'pub struct '+struct+r' \{(.*?)\n\}', src, re.S)
    props={"type":{"type":"string","enum":[tag]}}; req=[]
    for f in re.finditer(r'pub (\w+): ([^,\n]+),', m.group(1)):
        name, ty = f.group(1), f.group(2)
        opt = ty.startswith('Option<'); base = ty[7:-1] if opt else ty
        if base=='Decimal':
            k='pos' if (struct,name) in POS else ('nn' if struct in NN_STRUCTS else 'any')
            sch=dec(k)
        elif base=='TimestampNs': sch={"type":"integer","format":"int64","minimum":-9223372036854775808,"maximum":9223372036854775807,"description":"ns since the epoch"}
        elif base in ('u64','u32'): sch={"type":"integer","minimum":0,"maximum":18446744073709551615}
        elif base=='bool': sch={"type":"boolean"}
        elif base in ('CompactString','String'):
            sch={"type":"string"}
            if (struct,name)==('Trade','trade_id'): sch["minLength"]=1
        elif base=='ExchangeId': sch=dict(EX)
        elif base=='MarketType': sch=dict(MKT)
        elif base=='Symbol': sch=dict(SYM)
        elif base=='Side': sch={"type":"string","enum":["buy","sell"]}
        elif base=='Vec<Level>': sch={"type":"array","items":level()}
        elif base=='RatioKind': sch={"type":"string","enum":["top_trader_positions","top_trader_accounts","all_accounts"]}
        elif base=='StatusKind':
            def st(tag, fields):
                props={"status":{"type":"string","enum":[tag]}}
                for f,t in fields: props[f]=t
                return {"type":"object","properties":props,"required":["status"]+[f for f,_ in fields]}
            S_=lambda: {"type":"string"}
            U_=lambda: {"type":"integer","minimum":0,"maximum":18446744073709551615}
            sch={"oneOf":[st("connected",[("connection",S_())]),st("disconnected",[("connection",S_()),("reason",S_())]),st("gap",[("expected",U_()),("received",U_())]),st("book_resync",[("reason",S_())])]}
        else: raise SystemExit(f"unknown type {ty} in {struct}.{name}")
        if opt: sch["nullable"]=True
        else: req.append(name)
        props[name]=sch
    name=struct+'Event'
    S[name]={"type":"object","description":f"A `{tag}` event (docs/data-model.md)","properties":props,"required":req}
    kinds.append(name)
refs=[{"$ref":f"#/components/schemas/{k}"} for k in kinds]
one={"allOf":[{"type":"object","required":["type"]},{"oneOf":refs}]}
d['paths']['/api/v1/storage/cold/archive']['post']['requestBody']['content']['application/json']['schema']={"oneOf":[one,{"type":"array","items":one,"minItems":1},{"type":"object","properties":{"events":{"type":"array","items":one,"minItems":1}},"required":["events"]}]}
json.dump(d,open(p,'w'),indent=2,ensure_ascii=False); open(p,'a').write('\n')
print(kinds)
