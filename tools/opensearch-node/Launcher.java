// An embedded single-node OpenSearch 2.19.1 with the k-NN plugin, for gcl-search's tests and local runs.
//
// Run as a single source file (no build step): node.sh does
//   java -Xmx1g -cp "<lib>/*:<knn>/*" Launcher.java --config DIR --home DIR --port N [--plugin CLASS]...
// Every module and plugin is a *classpath plugin* (as in OpenSearch's own single-node test cases), so no
// modules/ or plugins/ directories, plugin descriptors, jar-hell checks or SecurityManager are involved.
// The k-NN plugin from Maven Central ships no native libraries: only the pure-Java lucene engine works.

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.ServiceLoader;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.opensearch.common.logging.LogConfigurator;
import org.opensearch.common.settings.Settings;
import org.opensearch.env.Environment;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;
import org.opensearch.plugins.ExtensiblePlugin;
import org.opensearch.plugins.Plugin;

public final class Launcher {
    // The default module set of a distribution, restricted to what gcl-search uses, plus k-NN.
    private static final List<String> BASE_PLUGINS = List.of(
        "org.opensearch.transport.Netty4Plugin",
        "org.opensearch.painless.PainlessPlugin",
        "org.opensearch.analysis.common.CommonAnalysisPlugin",
        "org.opensearch.index.mapper.MapperExtrasPlugin",
        "org.opensearch.index.reindex.ReindexPlugin",
        "org.opensearch.knn.plugin.KNNPlugin");

    public static void main(String[] args) throws Exception {
        Path config = null;
        Path home = null;
        String port = null;
        List<String> pluginNames = new ArrayList<>(BASE_PLUGINS);
        for (int i = 0; i < args.length; i += 2) {
            if (i + 1 >= args.length) {
                usage("missing value for " + args[i]);
            }
            switch (args[i]) {
                case "--config" -> config = Path.of(args[i + 1]).toAbsolutePath();
                case "--home" -> home = Path.of(args[i + 1]).toAbsolutePath();
                case "--port" -> port = args[i + 1];
                case "--plugin" -> pluginNames.add(args[i + 1]);
                default -> usage("unknown option " + args[i]);
            }
        }
        if (config == null || home == null || port == null) {
            usage("--config, --home and --port are required");
        }
        Files.createDirectories(home.resolve("data"));
        Files.createDirectories(home.resolve("logs"));

        // Command-line settings override config/opensearch.yml; the port and paths differ per node.
        Settings input = Settings.builder()
            .put("path.home", home.toString())
            .put("path.data", home.resolve("data").toString())
            .put("path.logs", home.resolve("logs").toString())
            .put("http.port", port)
            .build();
        Environment env = InternalSettingsPreparer.prepareEnvironment(input, Map.of(), config, () -> "node-1");
        LogConfigurator.registerErrorListener();
        LogConfigurator.configure(env);

        List<Class<? extends Plugin>> plugins = new ArrayList<>();
        for (String name : pluginNames) {
            plugins.add(Class.forName(name).asSubclass(Plugin.class));
        }
        registerPainlessExtensions();

        // Node's constructor with classpath plugins is protected; an anonymous subclass is how MockNode does it.
        Node node = new Node(env, plugins, true) {};
        CountDownLatch closed = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                node.close();
                node.awaitClose(20, TimeUnit.SECONDS);
            } catch (Exception e) {
                e.printStackTrace();
            } finally {
                closed.countDown();
            }
        }, "node-shutdown"));
        node.start();
        System.out.println("gcl-search launcher: node started, http port " + port);
        closed.await();
    }

    // In 2.x, OpenSearch feeds SPI extensions (k-NN's painless allowlist: innerProduct, cosineSimilarity, ...)
    // only to bundle plugins. PainlessPlugin keeps its allowlists in a static map, so filling it here, before the
    // node creates its script engine, gives a classpath node the same painless functions as a distribution.
    private static void registerPainlessExtensions() throws ReflectiveOperationException {
        Class<?> painless = Class.forName("org.opensearch.painless.PainlessPlugin");
        ExtensiblePlugin plugin = (ExtensiblePlugin) painless.getDeclaredConstructor().newInstance();
        plugin.loadExtensions(new ExtensiblePlugin.ExtensionLoader() {
            @Override
            public <T> List<T> loadExtensions(Class<T> type) {
                List<T> found = new ArrayList<>();
                ServiceLoader.load(type, Launcher.class.getClassLoader()).forEach(found::add);
                return found;
            }
        });
    }

    private static void usage(String problem) {
        System.err.println("Launcher: " + problem);
        System.err.println("usage: java -cp 'lib/*:knn/*' Launcher.java --config DIR --home DIR --port N"
            + " [--plugin CLASS]...");
        System.exit(2);
    }
}
