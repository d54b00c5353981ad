// An embedded OpenSearch node (2.19.1 or 3.5.0) with the k-NN plugin, for gcl-search's tests and local runs.
//
// node.sh compiles it once per version of this file and OpenSearch, then runs
//   java -cp "<lib>/*:<knn>/*:<classes>" Launcher --config DIR --home DIR --port N [--set KEY=VALUE]...
//        [--plugin CLASS]...
// One source serves both majors: the plugin class names and the Node constructor differ (2.x takes plugin
// classes, 3.x PluginInfo descriptions), so those two are picked by reflection at run time.
// Every module and plugin is a *classpath plugin* (as in OpenSearch's own single-node test cases), so no
// modules/ or plugins/ directories, plugin descriptors, jar-hell checks or SecurityManager are involved.
// The k-NN plugin from Maven Central ships no native libraries: only the pure-Java lucene engine works.

import java.lang.reflect.Constructor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.ServiceLoader;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.opensearch.Version;
import org.opensearch.common.logging.LogConfigurator;
import org.opensearch.common.settings.Settings;
import org.opensearch.env.Environment;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;
import org.opensearch.plugins.ExtensiblePlugin;
import org.opensearch.plugins.Plugin;

public final class Launcher {
    // The default module set of a distribution, restricted to what gcl-search uses, plus k-NN.
    private static final List<String> BASE_PLUGINS_2X = List.of(
        "org.opensearch.transport.Netty4Plugin",
        "org.opensearch.painless.PainlessPlugin",
        "org.opensearch.analysis.common.CommonAnalysisPlugin",
        "org.opensearch.index.mapper.MapperExtrasPlugin",
        "org.opensearch.index.reindex.ReindexPlugin",
        "org.opensearch.knn.plugin.KNNPlugin");
    // 3.x renamed the module classes; k-NN's painless functions reach PainlessModulePlugin through its
    // PluginInfo (extended plugins), which 3.x honours for classpath plugins.
    private static final List<String> BASE_PLUGINS_3X = List.of(
        "org.opensearch.transport.Netty4ModulePlugin",
        "org.opensearch.painless.PainlessModulePlugin",
        "org.opensearch.analysis.common.CommonAnalysisModulePlugin",
        "org.opensearch.index.mapper.MapperExtrasModulePlugin",
        "org.opensearch.index.reindex.ReindexModulePlugin",
        "org.opensearch.knn.plugin.KNNPlugin");
    private static final Map<String, List<String>> EXTENDS_3X = Map.of(
        "org.opensearch.knn.plugin.KNNPlugin", List.of("org.opensearch.painless.PainlessModulePlugin"));

    public static void main(String[] args) throws Exception {
        Path config = null;
        Path home = null;
        String port = null;
        boolean v3 = Version.CURRENT.major >= 3;
        List<String> pluginNames = new ArrayList<>(v3 ? BASE_PLUGINS_3X : BASE_PLUGINS_2X);
        Settings.Builder extra = Settings.builder();
        for (int i = 0; i < args.length; i += 2) {
            if (i + 1 >= args.length) {
                usage("missing value for " + args[i]);
            }
            switch (args[i]) {
                case "--config" -> config = Path.of(args[i + 1]).toAbsolutePath();
                case "--home" -> home = Path.of(args[i + 1]).toAbsolutePath();
                case "--port" -> port = args[i + 1];
                case "--plugin" -> pluginNames.add(args[i + 1]);
                case "--set" -> {
                    String kv = args[i + 1];
                    int eq = kv.indexOf('=');
                    if (eq <= 0) {
                        usage("--set needs KEY=VALUE, got " + kv);
                    }
                    extra.put(kv.substring(0, eq), kv.substring(eq + 1));
                }
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
            .put(extra.build())
            .build();
        Environment env = InternalSettingsPreparer.prepareEnvironment(input, Map.of(), config, () -> "node-1");
        LogConfigurator.registerErrorListener();
        LogConfigurator.configure(env);

        Node node = v3 ? newNode3x(env, pluginNames) : newNode2x(env, pluginNames);
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
        System.out.println("gcl-search launcher: OpenSearch " + Version.CURRENT + " node started, http port " + port
            + ", java " + Runtime.version());
        closed.await();
    }

    // Node's constructors with classpath plugins are protected (MockNode subclasses it); reflection keeps one
    // source compilable against both majors.
    private static Node newNode2x(Environment env, List<String> names) throws Exception {
        List<Class<? extends Plugin>> plugins = new ArrayList<>();
        for (String name : names) {
            plugins.add(Class.forName(name).asSubclass(Plugin.class));
        }
        registerPainlessExtensions();
        Constructor<Node> ctor = Node.class.getDeclaredConstructor(Environment.class, Collection.class, boolean.class);
        ctor.setAccessible(true);
        return ctor.newInstance(env, plugins, true);
    }

    private static Node newNode3x(Environment env, List<String> names) throws Exception {
        Class<?> infoClass = Class.forName("org.opensearch.plugins.PluginInfo");
        Constructor<?> info = infoClass.getConstructor(String.class, String.class, String.class, Version.class,
            String.class, String.class, String.class, List.class, boolean.class);
        List<Object> infos = new ArrayList<>();
        for (String name : names) {
            Class.forName(name);  // fail here, naming the class, if a jar is missing
            infos.add(info.newInstance(name, "classpath plugin " + name, "NA", Version.CURRENT, "21", name, null,
                EXTENDS_3X.getOrDefault(name, List.of()), false));
        }
        Constructor<Node> ctor = Node.class.getDeclaredConstructor(Environment.class, Collection.class, boolean.class);
        ctor.setAccessible(true);
        return ctor.newInstance(env, infos, true);
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
        System.err.println("usage: java -cp 'lib/*:knn/*:classes' Launcher --config DIR --home DIR --port N"
            + " [--set KEY=VALUE]... [--plugin CLASS]...");
        System.exit(2);
    }
}
