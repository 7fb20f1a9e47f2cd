-- The sample application moves updated_at whenever a conversation or one of
-- its turns changes, as continuous exports ask of an application
-- (docs/continuous.md): increments read what changed by updated_at.

CREATE OR REPLACE FUNCTION public.touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.updated_at := now(); RETURN NEW; END $$;
CREATE OR REPLACE TRIGGER conversations_touch BEFORE UPDATE ON public.conversations
    FOR EACH ROW EXECUTE FUNCTION public.touch_updated_at();

CREATE OR REPLACE FUNCTION public.touch_conversation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE public.conversations SET updated_at = now()
     WHERE id = COALESCE(NEW.conversation_id, OLD.conversation_id);
    RETURN NULL;
END $$;
CREATE OR REPLACE TRIGGER conversation_turns_touch AFTER INSERT OR UPDATE OR DELETE ON public.conversation_turns
    FOR EACH ROW EXECUTE FUNCTION public.touch_conversation();
