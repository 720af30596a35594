class Proxy: pass
