-- Dovecot push_notification Lua driver for scripts/mailstack (the test
-- stack): on new mail in any mailbox of a user (delivery or APPEND) it
-- POSTs {"user":USER,"folder":MAILBOX} to the URL on the first line of
-- @PUSH_DIR@USER, with "Authorization: Bearer" and the token on its second
-- line: each test points its own department users at its own ackd. A user
-- without such a file costs one failed open(). docs/deployment.md has the
-- production script (one URL for every user).
local client = dovecot.http.client({timeout = 2000, max_attempts = 1})
local dir = "@PUSH_DIR@"

local function esc(s)
  return (string.gsub(s, '[%c"\\]', function(c) return string.format("\\u%04x", string.byte(c)) end))
end

function dovecot_lua_notify_begin_txn(user)
  return {user = user.username, boxes = {}}
end

function dovecot_lua_notify_event_message_new(ctx, event)
  ctx.boxes[event.mailbox] = true
end

function dovecot_lua_notify_event_message_append(ctx, event)
  ctx.boxes[event.mailbox] = true
end

function dovecot_lua_notify_end_txn(ctx, success)
  if not success or next(ctx.boxes) == nil or string.find(ctx.user, "/", 1, true) then
    return
  end
  local f = io.open(dir .. ctx.user, "r")
  if f == nil then
    return
  end
  local url, token = f:read("l"), f:read("l")
  f:close()
  if url == nil or token == nil then
    return
  end
  for box in pairs(ctx.boxes) do
    local req = client:request({url = url, method = "POST"})
    req:add_header("Authorization", "Bearer " .. token)
    req:add_header("Content-Type", "application/json")
    req:set_payload('{"user":"' .. esc(ctx.user) .. '","folder":"' .. esc(box) .. '"}')
    local resp = req:submit()
    if resp:status() ~= 204 then
      dovecot.i_warning("push to " .. url .. " for " .. ctx.user .. ": HTTP " .. resp:status())
    end
  end
end
