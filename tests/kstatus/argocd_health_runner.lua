-- Runs an Argo CD health.lua against its health_test.yaml cases, as Argo CD's
-- own resource_customizations tests do, with Debian's lua5.4:
--   lua5.4 argocd_health_runner.lua health.lua DIR
-- DIR holds health_test.json and the inputs (testdata/*.json), converted from
-- YAML by cmd/yaml2json. The script runs in a sandbox with only the libraries
-- Argo CD offers (no io/os), with the object as the global `obj`.
-- Prints "ok"/"not ok" per case and "N passed, M failed"; exits 1 on failure.

local function decode_json(s)
  local pos = 1
  local function err(msg)
    error(string.format("JSON: %s at byte %d", msg, pos), 0)
  end
  local function ws()
    pos = s:find("[^ \t\r\n]", pos) or (#s + 1)
  end
  local value
  local function str()
    pos = pos + 1
    local out = {}
    while true do
      local c = s:sub(pos, pos)
      if c == "" then err("unterminated string") end
      if c == '"' then pos = pos + 1; break end
      if c == "\\" then
        local e = s:sub(pos + 1, pos + 1)
        local map = { ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n", r = "\r", t = "\t" }
        if map[e] then
          out[#out + 1] = map[e]; pos = pos + 2
        elseif e == "u" then
          local cp = tonumber(s:sub(pos + 2, pos + 5), 16)
          if not cp then err("bad \\u escape") end
          pos = pos + 6
          if cp >= 0xD800 and cp <= 0xDBFF and s:sub(pos, pos + 1) == "\\u" then
            local lo = tonumber(s:sub(pos + 2, pos + 5), 16)
            cp = 0x10000 + (cp - 0xD800) * 0x400 + (lo - 0xDC00)
            pos = pos + 6
          end
          out[#out + 1] = utf8.char(cp)
        else
          err("bad escape")
        end
      else
        local j = s:find('["\\]', pos) or (#s + 1)
        out[#out + 1] = s:sub(pos, j - 1)
        pos = j
      end
    end
    return table.concat(out)
  end
  function value()
    ws()
    local c = s:sub(pos, pos)
    if c == "{" then
      pos = pos + 1
      local t = {}
      ws()
      if s:sub(pos, pos) == "}" then pos = pos + 1; return t end
      while true do
        ws()
        if s:sub(pos, pos) ~= '"' then err("expected key") end
        local k = str()
        ws()
        if s:sub(pos, pos) ~= ":" then err("expected ':'") end
        pos = pos + 1
        t[k] = value()
        ws()
        local d = s:sub(pos, pos)
        pos = pos + 1
        if d == "}" then return t end
        if d ~= "," then err("expected ',' or '}'") end
      end
    elseif c == "[" then
      pos = pos + 1
      local t, n = {}, 0
      ws()
      if s:sub(pos, pos) == "]" then pos = pos + 1; return t end
      while true do
        n = n + 1
        t[n] = value()
        ws()
        local d = s:sub(pos, pos)
        pos = pos + 1
        if d == "]" then return t end
        if d ~= "," then err("expected ',' or ']'") end
      end
    elseif c == '"' then
      return str()
    elseif s:sub(pos, pos + 3) == "true" then
      pos = pos + 4; return true
    elseif s:sub(pos, pos + 4) == "false" then
      pos = pos + 5; return false
    elseif s:sub(pos, pos + 3) == "null" then
      pos = pos + 4; return nil
    else
      local num = s:match("^-?%d+%.?%d*[eE]?[-+]?%d*", pos)
      if not num or num == "" then err("unexpected character") end
      pos = pos + #num
      local v = tonumber(num)
      return math.tointeger(v) or v
    end
  end
  local v = value()
  ws()
  if pos <= #s then err("trailing data") end
  return v
end

local function read(path)
  local f, e = io.open(path, "rb")
  if not f then error(e, 0) end
  local s = f:read("a")
  f:close()
  return s
end

local script_path, dir = arg[1], arg[2]
if not script_path or not dir then
  io.stderr:write("usage: lua5.4 argocd_health_runner.lua health.lua DIR\n")
  os.exit(2)
end
local script = read(script_path)
local cases = decode_json(read(dir .. "/health_test.json")).tests or {}

local function run(obj)
  local env = {
    obj = obj, ipairs = ipairs, pairs = pairs, next = next, type = type,
    tostring = tostring, tonumber = tonumber, select = select, error = error,
    pcall = pcall, string = string, table = table, math = math,
  }
  local chunk, e = load(script, "=health.lua", "t", env)
  if not chunk then error(e, 0) end
  return chunk()
end

local passed, failed = 0, 0
for i, tc in ipairs(cases) do
  local input = tc.inputPath:gsub("%.ya?ml$", ".json")
  local okrun, res = pcall(function() return run(decode_json(read(dir .. "/" .. input))) end)
  local want = tc.healthStatus or {}
  local problem
  if not okrun then
    problem = "error: " .. tostring(res)
  elseif type(res) ~= "table" then
    problem = "returned " .. type(res)
  elseif res.status ~= want.status or (want.message ~= nil and res.message ~= want.message) then
    problem = string.format("got %s %q, want %s %q", tostring(res.status), tostring(res.message),
      tostring(want.status), tostring(want.message))
  end
  if problem then
    failed = failed + 1
    print(string.format("not ok %d - %s: %s", i, tc.inputPath, problem))
  else
    passed = passed + 1
    print(string.format("ok %d - %s: %s %q", i, tc.inputPath, res.status, res.message))
  end
end
if #cases == 0 then
  print("not ok - no test cases")
  failed = failed + 1
end
print(string.format("%d passed, %d failed", passed, failed))
os.exit(failed == 0 and 0 or 1)
