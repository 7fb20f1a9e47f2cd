"""One conversation of the sample application's shape, added with its turns:
each turn (role, content) or (role, content, tool calls, tool result link)."""
import json

from support.databases import ALICE, admin_connect, new_uuid


def add_conversation(db, label, turns, tools=None, title=None, user=ALICE, persona=None):
    conversation = new_uuid()
    with admin_connect(db) as conn:
        conn.execute("INSERT INTO public.conversations (id, conversation_id, user_id, title, status, tier, tools, "
                     "persona, created_at) VALUES (%s, %s, %s, %s, 'approved', 'template', %s, %s, now())",
                     (conversation, label, user, title or label, json.dumps(tools) if tools else None, persona))
        for number, turn in enumerate(turns, 1):
            role, content, calls, call_id = turn if len(turn) == 4 else (*turn, None, None)
            conn.execute("INSERT INTO public.conversation_turns "
                         "(conversation_id, turn_number, role, content, tool_calls, tool_call_id) "
                         "VALUES (%s, %s, %s, %s, %s, %s)",
                         (conversation, number, role, content, json.dumps(calls) if calls else None, call_id))
    return conversation
