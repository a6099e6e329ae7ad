# The Salesforce destination (engine/dest/salesforce*.c). The registry refers to
# eng_dest_salesforce weakly, and a weak reference does not pull an object out
# of libengine.a; -u makes the binaries link the backend.
$(BIN)/retl-engine $(BUILD)/san/bin/retl-engine: LDLIBS += -Wl,-u,eng_dest_salesforce
